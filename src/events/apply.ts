import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { audit, eventsSeen, manifests, repositories } from '../db/schema';
import { recordAudit } from '../audit/record';
import { projectOf } from '../access/roles';
import { INTERNAL_SUBJECT } from '../identity/principal';
import {
  dropRepositoryIfEmpty,
  ensureRepository,
  findRepository,
  recordPull,
  removeManifest,
  removeTag,
  upsertManifest,
  upsertTag,
} from '../artifacts/state';
import { addressOf, type RegistryEvent } from './envelope';
import { noteChange } from '../artifacts/changes';
import { isStorageFailure } from '../db/storage';

/** Pulls of the same manifest by the same actor within this window fold into one audit row. */
export const PULL_FOLD_MS = 10_000;

export interface ApplyResult {
  applied: number;
  duplicates: number;
  failed: { id: string; reason: string }[];
  /** Manifests whose size and children should be fetched from the registry. */
  fetch: { repository: string; digest: string }[];
}

function eventTime(e: RegistryEvent, nowMs: number): string {
  const t = e.timestamp ? Date.parse(e.timestamp) : NaN;
  return new Date(Number.isFinite(t) ? t : nowMs).toISOString();
}

/** True when a digest is a platform child of an index in the repository (pulled as part of it). */
function isIndexChild(tx: Tx, repositoryId: number, digest: string): boolean {
  return !!tx
    .select({ id: manifests.id })
    .from(manifests)
    // `_` may occur in a digest and is a LIKE wildcard: escape it (and `%`, `\`).
    .where(and(eq(manifests.repositoryId, repositoryId), sql`${manifests.children} LIKE ${`%"${digest.replace(/[\\%_]/g, (ch) => `\\${ch}`)}"%`} ESCAPE '\\'`))
    .get();
}

/** Folds a pull into a recent audit row of the same actor and manifest; true when folded. */
function foldPull(tx: Tx, username: string, repository: string, digest: string, at: string): boolean {
  const since = new Date(Date.parse(at) - PULL_FOLD_MS).toISOString();
  const recent = tx
    .select({ id: audit.id, count: audit.count })
    .from(audit)
    .where(
      and(eq(audit.repository, repository), eq(audit.action, 'pull'), eq(audit.username, username), eq(audit.digest, digest), gt(audit.time, since)),
    )
    .orderBy(desc(audit.id))
    .get();
  if (!recent) return false;
  tx.update(audit)
    .set({ count: recent.count + 1 })
    .where(eq(audit.id, recent.id))
    .run();
  return true;
}

function applyOne(tx: Tx, e: RegistryEvent, defaultProject: string, nowMs: number, fetch: ApplyResult['fetch']): void {
  const at = eventTime(e, nowMs);
  const actor = e.actor?.name || 'anonymous';
  const repository = e.target.repository;
  const internal = actor === INTERNAL_SUBJECT;
  const row = {
    time: at,
    username: actor,
    resourceType: 'artifact',
    resource: `${repository}${e.target.tag ? `:${e.target.tag}` : e.target.digest ? `@${e.target.digest}` : ''}`,
    project: projectOf(repository, defaultProject),
    repository,
    tag: e.target.tag ?? null,
    digest: e.target.digest ?? null,
    mediaType: e.target.mediaType ?? null,
    sourceIp: addressOf(e.request?.addr),
    userAgent: e.request?.useragent?.slice(0, 512) ?? null,
  };

  if (e.action === 'push') {
    const repo = ensureRepository(tx, repository, defaultProject);
    const manifest = upsertManifest(tx, repo.id, { digest: e.target.digest!, mediaType: e.target.mediaType, pushedAt: at });
    if (e.target.tag) upsertTag(tx, repo.id, { name: e.target.tag, digest: e.target.digest!, pushedAt: at, pushedBy: actor });
    tx.update(repositories).set({ lastPushedAt: at }).where(eq(repositories.id, repo.id)).run();
    if (manifest.size === null) fetch.push({ repository, digest: e.target.digest! });
    // Wharf's own writes (tag-delete placeholders) are audited by the action that made them.
    if (!internal) recordAudit(tx, { ...row, action: 'push' });
    return;
  }

  if (e.action === 'pull') {
    if (internal) return;
    const repo = findRepository(tx, repository);
    const digest = e.target.digest!;
    if (repo && !e.target.tag && isIndexChild(tx, repo.id, digest)) return;
    if (foldPull(tx, actor, repository, digest, at)) return;
    if (repo) recordPull(tx, repo.id, at, e.target.tag, digest);
    recordAudit(tx, { ...row, action: 'pull' });
    return;
  }

  // delete: by digest removes the manifest and its tags; the per-tag events carry no digest.
  const repo = findRepository(tx, repository);
  if (repo) {
    if (e.target.digest) removeManifest(tx, repo.id, e.target.digest);
    else removeTag(tx, repo.id, e.target.tag!);
    dropRepositoryIfEmpty(tx, repo.id);
  }
  if (!internal) recordAudit(tx, { ...row, action: 'delete' });
}

/**
 * Applies events in order, each once: an id seen before changes nothing. Each event runs in its own
 * savepoint, so one that fails is reported and the rest still land.
 */
export function applyEvents(db: Db, events: RegistryEvent[], defaultProject: string, nowMs: number): ApplyResult {
  const result: ApplyResult = { applied: 0, duplicates: 0, failed: [], fetch: [] };
  db.transaction((tx) => {
    for (const e of events) {
      // The savepoint's own rollback fails once SQLite has ended the transaction, hiding the cause.
      let cause: unknown;
      try {
        tx.transaction((sp) => {
          try {
            const fresh = sp.insert(eventsSeen).values({ id: e.id }).onConflictDoNothing().run().changes;
            if (fresh === 0) {
              result.duplicates++;
              return;
            }
            applyOne(sp, e, defaultProject, nowMs, result.fetch);
            if (e.action !== 'pull') noteChange(db, e.target.repository);
            result.applied++;
          } catch (err) {
            cause = err;
            throw err;
          }
        });
      } catch (err) {
        // A full disk (or any error that ended the transaction) fails the whole delivery: the
        // registry sends it again later, and nothing of it was kept.
        if (isStorageFailure(cause ?? err) || !db.$client.inTransaction) throw cause ?? err;
        result.failed.push({ id: e.id, reason: (err as Error).message.slice(0, 200) });
      }
    }
  });
  return result;
}
