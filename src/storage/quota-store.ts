import { and, eq, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';

/** The SQL of project quotas: usage from the blobs manifests keep. */

/**
 * Bytes a project's repositories keep: each distinct blob once, however many manifests or
 * repositories share it; only blobs of manifests still there (a deleted manifest's rows may stay).
 */
export async function projectUsageBytes(db: Tx, projectId: number): Promise<number> {
  const { manifestBlobs: mb, repositories: r, manifests: m } = tablesOf(db);
  const perBlob = db
    .select({ blob: mb.blobDigest, size: sql<number>`max(${mb.size})`.as('size') })
    .from(mb)
    .innerJoin(r, eq(r.id, mb.repositoryId))
    .innerJoin(m, and(eq(m.repositoryId, mb.repositoryId), eq(m.digest, mb.manifestDigest)))
    .where(eq(r.projectId, projectId))
    .groupBy(mb.blobDigest)
    .as('per_blob');
  const row = await firstRow(db.select({ total: sql<string | number | null>`sum(${perBlob.size})` }).from(perBlob));
  return Number(row?.total ?? 0);
}

/** The project a repository belongs to, if the repository is known. */
export async function projectOfRepository(db: Tx, repository: string): Promise<{ id: number; name: string } | undefined> {
  const { repositories: r, projects: p } = tablesOf(db);
  return firstRow(db.select({ id: p.id, name: p.name }).from(r).innerJoin(p, eq(p.id, r.projectId)).where(eq(r.name, repository)));
}

export async function projectNameOf(db: Tx, projectId: number): Promise<string | undefined> {
  const { projects: p } = tablesOf(db);
  return (await firstRow(db.select({ name: p.name }).from(p).where(eq(p.id, projectId))))?.name;
}

/** Every project, for a recompute of all usage (after reconcile). */
export async function allProjects(db: Tx): Promise<{ id: number; name: string }[]> {
  const { projects: p } = tablesOf(db);
  return db.select({ id: p.id, name: p.name }).from(p);
}
