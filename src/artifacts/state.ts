import { and, count, eq, inArray, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { manifests, repositories, tags } from '../db/schema';
import { ensureProject } from '../access/projects';
import { projectOf } from '../access/roles';
import { SYSTEM_ACTOR } from '../identity/principal';

/**
 * Wharf's own tag state: repositories, manifests and tags as the registry's events and reconcile
 * report them. A repository exists here while it holds at least one manifest.
 */

export type Repository = typeof repositories.$inferSelect;
export type ManifestRow = typeof manifests.$inferSelect;
export type TagRow = typeof tags.$inferSelect;

export const findRepository = (tx: Tx, name: string): Repository | undefined =>
  tx.select().from(repositories).where(eq(repositories.name, name)).get();

/** The repository row, created with its project (private, no members; made by `creator`) when missing. */
export function ensureRepository(tx: Tx, name: string, defaultProject: string, creator: { username: string } = SYSTEM_ACTOR): Repository {
  const existing = findRepository(tx, name);
  if (existing) return existing;
  const project = ensureProject(tx, projectOf(name, defaultProject), false, creator);
  return tx.insert(repositories).values({ name, projectId: project.id }).returning().get();
}

export function upsertManifest(
  tx: Tx,
  repositoryId: number,
  m: { digest: string; mediaType?: string | null; pushedAt?: string },
): ManifestRow {
  return tx
    .insert(manifests)
    .values({ repositoryId, digest: m.digest, mediaType: m.mediaType ?? null, ...(m.pushedAt ? { pushedAt: m.pushedAt } : {}) })
    .onConflictDoUpdate({
      target: [manifests.repositoryId, manifests.digest],
      set: { mediaType: sql`coalesce(excluded.media_type, ${manifests.mediaType})` },
    })
    .returning()
    .get();
}

/** Points a tag at a digest; a moved tag keeps its pull count but takes the new push time and pusher. */
export function upsertTag(tx: Tx, repositoryId: number, t: { name: string; digest: string; pushedAt?: string; pushedBy?: string | null }): void {
  const pushedAt = t.pushedAt ?? new Date().toISOString();
  tx.insert(tags)
    .values({ repositoryId, name: t.name, digest: t.digest, pushedAt, pushedBy: t.pushedBy ?? null })
    .onConflictDoUpdate({
      target: [tags.repositoryId, tags.name],
      set: { digest: t.digest, pushedAt, pushedBy: t.pushedBy ?? null },
    })
    .run();
}

export function removeTag(tx: Tx, repositoryId: number, name: string): number {
  return tx
    .delete(tags)
    .where(and(eq(tags.repositoryId, repositoryId), eq(tags.name, name)))
    .run().changes;
}

/** Removes a manifest and every tag on it; returns the removed tag names. */
export function removeManifest(tx: Tx, repositoryId: number, digest: string): string[] {
  const gone = tx
    .delete(tags)
    .where(and(eq(tags.repositoryId, repositoryId), eq(tags.digest, digest)))
    .returning({ name: tags.name })
    .all()
    .map((r) => r.name);
  tx.delete(manifests)
    .where(and(eq(manifests.repositoryId, repositoryId), eq(manifests.digest, digest)))
    .run();
  return gone;
}

/** Drops the repository row once it holds no manifest and no tag. */
export function dropRepositoryIfEmpty(tx: Tx, repositoryId: number): boolean {
  const m = tx.select({ n: count() }).from(manifests).where(eq(manifests.repositoryId, repositoryId)).get()!.n;
  const t = tx.select({ n: count() }).from(tags).where(eq(tags.repositoryId, repositoryId)).get()!.n;
  if (m > 0 || t > 0) return false;
  tx.delete(repositories).where(eq(repositories.id, repositoryId)).run();
  return true;
}

export function tagsOfDigest(tx: Tx, repositoryId: number, digest: string): string[] {
  return tx
    .select({ name: tags.name })
    .from(tags)
    .where(and(eq(tags.repositoryId, repositoryId), eq(tags.digest, digest)))
    .all()
    .map((r) => r.name);
}

export function recordPull(tx: Tx, repositoryId: number, at: string, tag?: string, digest?: string): void {
  tx.update(repositories)
    .set({ pullCount: sql`${repositories.pullCount} + 1`, lastPulledAt: at })
    .where(eq(repositories.id, repositoryId))
    .run();
  if (tag) {
    tx.update(tags)
      .set({ pullCount: sql`${tags.pullCount} + 1`, lastPulledAt: at })
      .where(and(eq(tags.repositoryId, repositoryId), eq(tags.name, tag)))
      .run();
  } else if (digest) {
    // A pull by digest counts for the tags that name that digest.
    const names = tagsOfDigest(tx, repositoryId, digest);
    if (names.length > 0)
      tx.update(tags)
        .set({ pullCount: sql`${tags.pullCount} + 1`, lastPulledAt: at })
        .where(and(eq(tags.repositoryId, repositoryId), inArray(tags.name, names)))
        .run();
  }
}
