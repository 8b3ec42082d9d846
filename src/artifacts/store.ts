import { and, asc, count, desc, eq, isNotNull, isNull, notExists, or, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { contains, jsonListHas, jsonListPattern } from '../db/dialect';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';
import type { manifests, repositories, tags } from '../db/schema';
import { readPage, type PageRequest } from '../db/paged';
import { projectScopeCondition, type ProjectScope } from '../access/store';
import { ensureProject } from '../access/projects';
import { projectOf } from '../access/roles';
import { SYSTEM_ACTOR } from '../identity/principal';
import { notAccessoryTag } from './accessory-store';

/**
 * Wharf's own tag state: repositories, manifests and tags as the registry's events and reconcile
 * report them. A repository exists here while it holds at least one manifest.
 */

export type Repository = typeof repositories.$inferSelect;
export type ManifestRow = typeof manifests.$inferSelect;
export type TagRow = typeof tags.$inferSelect;

// Every notification runs the statements below: prepared once per connection, not built per event.
const repositoryByName = preparedPerConnection('repository_by_name', (db) => {
  const { repositories } = tablesOf(db);
  return db.select().from(repositories).where(eq(repositories.name, sql.placeholder('name')));
});

const manifestUpsert = (db: Tx, pushedAt: boolean) => {
  const { manifests } = tablesOf(db);
  return db
    .insert(manifests)
    .values({
      repositoryId: sql.placeholder('repositoryId'),
      digest: sql.placeholder('digest'),
      mediaType: sql.placeholder('mediaType'),
      ...(pushedAt ? { pushedAt: sql.placeholder('pushedAt') } : {}),
    })
    .onConflictDoUpdate({
      target: [manifests.repositoryId, manifests.digest],
      set: { mediaType: sql`coalesce(excluded.media_type, ${manifests.mediaType})` },
    })
    .returning();
};
const manifestUpsertPushed = preparedPerConnection('manifest_upsert_pushed', (db) => manifestUpsert(db, true));
const manifestUpsertUndated = preparedPerConnection('manifest_upsert_undated', (db) => manifestUpsert(db, false));

const tagUpsert = preparedPerConnection('tag_upsert', (db) => {
  const { tags } = tablesOf(db);
  return db
    .insert(tags)
    .values({
      repositoryId: sql.placeholder('repositoryId'),
      name: sql.placeholder('name'),
      digest: sql.placeholder('digest'),
      pushedAt: sql.placeholder('pushedAt'),
      pushedBy: sql.placeholder('pushedBy'),
    })
    .onConflictDoUpdate({
      target: [tags.repositoryId, tags.name],
      set: { digest: sql`excluded.digest`, pushedAt: sql`excluded.pushed_at`, pushedBy: sql`excluded.pushed_by` },
    });
});

const repositoryPushedByName = preparedPerConnection('repository_pushed_by_name', (db) => {
  const { repositories } = tablesOf(db);
  return db
    .update(repositories)
    .set({ lastPushedAt: sql`${sql.placeholder('at')}` })
    .where(eq(repositories.name, sql.placeholder('name')))
    .returning();
});

const repositoryPulledByName = preparedPerConnection('repository_pulled_by_name', (db) => {
  const { repositories } = tablesOf(db);
  return db
    .update(repositories)
    .set({ pullCount: sql`${repositories.pullCount} + 1`, lastPulledAt: sql`${sql.placeholder('at')}` })
    .where(eq(repositories.name, sql.placeholder('name')))
    .returning({ id: repositories.id });
});

const repositoryPulled = preparedPerConnection('repository_pulled', (db) => {
  const { repositories } = tablesOf(db);
  return db
    .update(repositories)
    .set({ pullCount: sql`${repositories.pullCount} + 1`, lastPulledAt: sql`${sql.placeholder('at')}` })
    .where(eq(repositories.id, sql.placeholder('repositoryId')));
});

const tagPulledByName = preparedPerConnection('tag_pulled_by_name', (db) => {
  const { tags } = tablesOf(db);
  return db
    .update(tags)
    .set({ pullCount: sql`${tags.pullCount} + 1`, lastPulledAt: sql`${sql.placeholder('at')}` })
    .where(and(eq(tags.repositoryId, sql.placeholder('repositoryId')), eq(tags.name, sql.placeholder('name'))));
});

const tagsPulledByDigest = preparedPerConnection('tags_pulled_by_digest', (db) => {
  const { tags } = tablesOf(db);
  return db
    .update(tags)
    .set({ pullCount: sql`${tags.pullCount} + 1`, lastPulledAt: sql`${sql.placeholder('at')}` })
    .where(and(eq(tags.repositoryId, sql.placeholder('repositoryId')), eq(tags.digest, sql.placeholder('digest'))));
});

export const findRepository = (tx: Tx, name: string): Promise<Repository | undefined> => repositoryByName(tx).get({ name });

/** The repository row, created with its project (private, no members; made by `creator`) when missing. */
export async function ensureRepository(tx: Tx, name: string, defaultProject: string, creator: { username: string } = SYSTEM_ACTOR): Promise<Repository> {
  const { repositories } = tablesOf(tx);
  const existing = await findRepository(tx, name);
  if (existing) return existing;
  const project = await ensureProject(tx, projectOf(name, defaultProject), false, creator);
  return (await firstRow(tx.insert(repositories).values({ name, projectId: project.id }).returning()))!;
}

/** ensureRepository and markPushed in one statement when the repository exists (a push's usual case). */
export async function ensurePushedRepository(tx: Tx, name: string, defaultProject: string, at: string, creator: { username: string } = SYSTEM_ACTOR): Promise<Repository> {
  const { repositories } = tablesOf(tx);
  const existing = await repositoryPushedByName(tx).get({ name, at });
  if (existing) return existing;
  const project = await ensureProject(tx, projectOf(name, defaultProject), false, creator);
  return (await firstRow(tx.insert(repositories).values({ name, projectId: project.id, lastPushedAt: at }).returning()))!;
}

export async function upsertManifest(
  tx: Tx,
  repositoryId: number,
  m: { digest: string; mediaType?: string | null; pushedAt?: string },
): Promise<ManifestRow> {
  const params = { repositoryId, digest: m.digest, mediaType: m.mediaType ?? null };
  const row = m.pushedAt ? await manifestUpsertPushed(tx).get({ ...params, pushedAt: m.pushedAt }) : await manifestUpsertUndated(tx).get(params);
  return row!;
}

/** Points a tag at a digest; a moved tag keeps its pull count but takes the new push time and pusher. */
export async function upsertTag(tx: Tx, repositoryId: number, t: { name: string; digest: string; pushedAt: string; pushedBy?: string | null }): Promise<void> {
  await tagUpsert(tx).run({ repositoryId, name: t.name, digest: t.digest, pushedAt: t.pushedAt, pushedBy: t.pushedBy ?? null });
}

export async function removeTag(tx: Tx, repositoryId: number, name: string): Promise<number> {
  const { tags } = tablesOf(tx);
  return rowsChanged(await tx.delete(tags).where(and(eq(tags.repositoryId, repositoryId), eq(tags.name, name))));
}

/** Removes a manifest and every tag on it; returns the removed tag names. */
export async function removeManifest(tx: Tx, repositoryId: number, digest: string): Promise<string[]> {
  const { manifests, manifestBlobs, tags } = tablesOf(tx);
  const gone = (await tx
    .delete(tags)
    .where(and(eq(tags.repositoryId, repositoryId), eq(tags.digest, digest)))
    .returning({ name: tags.name }))
    .map((r) => r.name);
  await tx.delete(manifests).where(and(eq(manifests.repositoryId, repositoryId), eq(manifests.digest, digest)));
  // Its blobs no longer count for the project's usage or for retention's bytes.
  await tx.delete(manifestBlobs).where(and(eq(manifestBlobs.repositoryId, repositoryId), eq(manifestBlobs.manifestDigest, digest)));
  return gone;
}

/** Drops the repository row once it holds no manifest and no tag. */
export async function dropRepositoryIfEmpty(tx: Tx, repositoryId: number): Promise<boolean> {
  const { manifests, repositories, tags } = tablesOf(tx);
  const m = (await firstRow(tx.select({ n: count() }).from(manifests).where(eq(manifests.repositoryId, repositoryId))))!.n;
  const t = (await firstRow(tx.select({ n: count() }).from(tags).where(eq(tags.repositoryId, repositoryId))))!.n;
  if (m > 0 || t > 0) return false;
  await tx.delete(repositories).where(eq(repositories.id, repositoryId));
  return true;
}

export async function tagsOfDigest(tx: Tx, repositoryId: number, digest: string): Promise<string[]> {
  const { tags } = tablesOf(tx);
  return (await tx
    .select({ name: tags.name })
    .from(tags)
    .where(and(eq(tags.repositoryId, repositoryId), eq(tags.digest, digest))))
    .map((r) => r.name);
}

export async function recordPull(tx: Tx, repositoryId: number, at: string, tag?: string, digest?: string): Promise<void> {
  await repositoryPulled(tx).run({ repositoryId, at });
  if (tag) await tagPulledByName(tx).run({ repositoryId, at, name: tag });
  // A pull by digest counts for the tags that name that digest.
  else if (digest) await tagsPulledByDigest(tx).run({ repositoryId, at, digest });
}

/** recordPull of a pull by tag, found by the repository's name; nothing when there is no such repository. */
export async function recordTagPull(tx: Tx, repository: string, at: string, tag: string): Promise<void> {
  const repo = await repositoryPulledByName(tx).get({ name: repository, at });
  if (repo) await tagPulledByName(tx).run({ repositoryId: repo.id, at, name: tag });
}

/** The repository's image indexes (manifests with children), with their children as stored. */
export function indexesOf(tx: Tx, repositoryId: number): Promise<{ digest: string; children: string | null }[]> {
  const { manifests } = tablesOf(tx);
  return tx
    .select({ digest: manifests.digest, children: manifests.children })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, repositoryId), isNotNull(manifests.children)));
}

/** The digest a tag points at, as Wharf knows it. */
export async function tagDigest(db: Tx, repositoryId: number, tag: string): Promise<string | undefined> {
  const { tags } = tablesOf(db);
  return (await firstRow(db.select({ digest: tags.digest }).from(tags).where(and(eq(tags.repositoryId, repositoryId), eq(tags.name, tag)))))?.digest;
}

const manifestOf = preparedPerConnection('manifest_of', (db) => {
  const { manifests } = tablesOf(db);
  return db
    .select({ id: manifests.id })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, sql.placeholder('repositoryId')), eq(manifests.digest, sql.placeholder('digest'))));
});

/** True when the manifest is in Wharf's state for the repository. */
export const hasManifest = async (db: Tx, repositoryId: number, digest: string): Promise<boolean> => !!(await manifestOf(db).get({ repositoryId, digest }));

const indexWithChild = preparedPerConnection('index_with_child', (db) => {
  const { manifests } = tablesOf(db);
  return db
    .select({ id: manifests.id })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, sql.placeholder('repositoryId')), jsonListHas(manifests.children, sql.placeholder('pattern'))));
});

/** True when a digest is a platform child of an index in the repository (pulled as part of it). */
export const isIndexChild = async (tx: Tx, repositoryId: number, digest: string): Promise<boolean> =>
  !!(await indexWithChild(tx).get({ repositoryId, pattern: jsonListPattern(digest) }));

/** Every manifest of a repository, with its children (null: not an index). */
export function manifestsOf(db: Tx, repositoryId: number): Promise<{ digest: string; children: string | null }[]> {
  const { manifests } = tablesOf(db);
  return db.select({ digest: manifests.digest, children: manifests.children }).from(manifests).where(eq(manifests.repositoryId, repositoryId));
}

export function pageOfRepositories(db: Tx, scope: ProjectScope, opts: { q?: string } & PageRequest) {
  const { projects, repositories } = tablesOf(db);
  const where = and(projectScopeCondition(db, scope), opts.q ? contains(db, repositories.name, opts.q) : undefined);
  // Without a search, the projects' kept repository counts add up to the total (no row of the listing is counted).
  const total = opts.q
    ? db.select({ n: count() }).from(repositories).innerJoin(projects, eq(projects.id, repositories.projectId)).where(where)
    : db.select({ n: sql<number>`coalesce(sum(${projects.repositoryCount}), 0)`.mapWith(Number) }).from(projects).where(where);
  return readPage(
    db
      .select({
        name: repositories.name,
        project: projects.name,
        tagCount: repositories.tagCount,
        pullCount: repositories.pullCount,
        lastPushedAt: repositories.lastPushedAt,
        lastPulledAt: repositories.lastPulledAt,
      })
      .from(repositories)
      .innerJoin(projects, eq(projects.id, repositories.projectId))
      .where(where)
      .orderBy(asc(repositories.name)),
    total,
    opts,
  );
}

/**
 * A page of the repository's tags, newest push first; without a search, the total is the repository's kept tag count.
 * `hideAccessories` leaves accessory tags out (and counts the rest).
 */
export function pageOfTags(db: Tx, repository: Pick<Repository, 'id' | 'tagCount'>, opts: { q?: string; hideAccessories?: boolean } & PageRequest) {
  const { manifests, tags } = tablesOf(db);
  const repositoryId = repository.id;
  const where = and(
    eq(tags.repositoryId, repositoryId),
    opts.q ? contains(db, tags.name, opts.q) : undefined,
    opts.hideAccessories ? notAccessoryTag(tags.name) : undefined,
  );
  return readPage(
    db
      .select({
        name: tags.name,
        digest: tags.digest,
        mediaType: manifests.mediaType,
        size: manifests.size,
        children: manifests.children,
        platform: manifests.platform,
        pushedAt: tags.pushedAt,
        pushedBy: tags.pushedBy,
        pullCount: tags.pullCount,
        lastPulledAt: tags.lastPulledAt,
      })
      .from(tags)
      .leftJoin(manifests, and(eq(manifests.repositoryId, tags.repositoryId), eq(manifests.digest, tags.digest)))
      .where(where)
      .orderBy(desc(tags.pushedAt), asc(tags.name)),
    opts.q || opts.hideAccessories ? db.select({ n: count() }).from(tags).where(where) : Promise.resolve([{ n: repository.tagCount }]),
    opts,
  );
}

export async function repositoryNames(db: Tx): Promise<string[]> {
  const { repositories } = tablesOf(db);
  return (await db.select({ name: repositories.name }).from(repositories)).map((r) => r.name);
}

export function tagsOf(db: Tx, repositoryId: number): Promise<{ name: string; digest: string }[]> {
  const { tags } = tablesOf(db);
  return db.select({ name: tags.name, digest: tags.digest }).from(tags).where(eq(tags.repositoryId, repositoryId));
}

/** Manifests whose size, children or blobs are not known yet (blobs: also those read before manifest_blobs existed). */
export function manifestsWithoutDetails(db: Tx): Promise<{ repository: string; digest: string }[]> {
  const { manifests, repositories, manifestBlobs } = tablesOf(db);
  return db
    .select({ repository: repositories.name, digest: manifests.digest })
    .from(manifests)
    .innerJoin(repositories, eq(repositories.id, manifests.repositoryId))
    .where(
      or(
        isNull(manifests.size),
        notExists(
          db
            .select({ one: sql`1` })
            .from(manifestBlobs)
            .where(and(eq(manifestBlobs.repositoryId, manifests.repositoryId), eq(manifestBlobs.manifestDigest, manifests.digest))),
        ),
      ),
    );
}

export interface ManifestBlob {
  digest: string;
  size: number;
}

/**
 * What the registry said of a manifest: its size, platform, children, OCI subject, and every blob
 * it keeps (itself, config, layers; for an index its children and theirs), each digest once.
 */
export async function setManifestDetails(
  db: Tx,
  repository: string,
  digest: string,
  details: { mediaType: string | null; size: number | null; platform: string | null; children: string | null; subject?: string | null },
  blobs?: ManifestBlob[],
): Promise<void> {
  const { manifests, manifestBlobs } = tablesOf(db);
  const repo = await findRepository(db, repository);
  if (!repo) return;
  await db
    .update(manifests)
    .set(details)
    .where(and(eq(manifests.repositoryId, repo.id), eq(manifests.digest, digest)));
  if (!blobs) return;
  const seen = new Set<string>();
  const unique = blobs.filter((b) => !seen.has(b.digest) && !!seen.add(b.digest));
  await db.delete(manifestBlobs).where(and(eq(manifestBlobs.repositoryId, repo.id), eq(manifestBlobs.manifestDigest, digest)));
  for (let i = 0; i < unique.length; i += 200)
    await db
      .insert(manifestBlobs)
      .values(unique.slice(i, i + 200).map((b) => ({ repositoryId: repo.id, manifestDigest: digest, blobDigest: b.digest, size: b.size })))
      .onConflictDoNothing();
}
