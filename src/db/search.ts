import { sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';

/** Case-insensitive substring match with % and _ taken literally. */
export function contains(column: SQLiteColumn, q: string): SQL {
  const pattern = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`${column} LIKE ${pattern} ESCAPE '\\'`;
}

/**
 * A JSON text column that holds `"value"` somewhere (a digest in a list of children), matched as
 * text: pass `jsonListPattern(value)` as the pattern, a placeholder or a value.
 */
export const jsonListHas = (column: SQLiteColumn, pattern: unknown): SQL => sql`${column} LIKE ${pattern} ESCAPE '\\'`;

/** `_` may occur in a digest and is a LIKE wildcard: escaped, with `%` and `\`. */
export const jsonListPattern = (value: string) => `%"${value.replace(/[\\%_]/g, (ch) => `\\${ch}`)}"%`;
