/** Which page of a listing to read: pages count from 1. */
export interface PageRequest {
  page: number;
  pageSize: number;
}

/** One page of a listing and how many rows the whole listing has. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** A drizzle select (ordered, filtered) that can still be limited. */
interface Pageable<T> {
  limit(limit: number): { offset(offset: number): PromiseLike<T[]> };
}

/** Reads one page of `rows` and the count of all of them (pass both with the same FROM and WHERE: a `select({ n: count() })`). */
export async function readPage<T>(rows: Pageable<T>, total: PromiseLike<{ n: number }[]>, page: PageRequest): Promise<Page<T>> {
  const items = await rows.limit(page.pageSize).offset((page.page - 1) * page.pageSize);
  return { items, total: (await total)[0]?.n ?? 0 };
}
