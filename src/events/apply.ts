import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
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
import { grantAddress } from '../token/grants';
import { isStorageFailure } from '../db/storage';

/** Audit rows of repeated identical pulls fold into one per this bucket (the counts stay exact). */
export const PULL_AUDIT_BUCKET_MS = 60_000;

export interface ApplyResult {
  applied: number;
  duplicates: number;
  failed: { id: string; reason: string }[];
  /** Manifests whose size and children should be fetched from the registry. */
  fetch: { repository: string; digest: string }[];
}

export interface ApplyOptions {
  defaultProject: string;
  nowMs: number;
  /** token.expiresIn: how long a grant can explain the events after it. */
  tokenLifetimeSeconds: number;
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

/**
 * Adds a pull to the audit row of the same actor, manifest, tag and address in the same bucket;
 * true when it did. Only the audit log is folded: pull counts take every pull.
 */
function foldPullAudit(tx: Tx, row: { username: string; repository: string; digest: string | null; tag: string | null; sourceIp: string | null }, at: string): boolean {
  const t = Date.parse(at);
  const bucket = t - (t % PULL_AUDIT_BUCKET_MS);
  const recent = tx
    .select({ id: audit.id })
    .from(audit)
    .where(
      and(
        eq(audit.repository, row.repository),
        gte(audit.time, new Date(bucket).toISOString()),
        lt(audit.time, new Date(bucket + PULL_AUDIT_BUCKET_MS).toISOString()),
        eq(audit.action, 'pull'),
        eq(audit.username, row.username),
        sql`${audit.digest} IS ${row.digest}`,
        sql`${audit.tag} IS ${row.tag}`,
        sql`${audit.sourceIp} IS ${row.sourceIp}`,
      ),
    )
    .orderBy(desc(audit.id))
    .get();
  if (!recent) return false;
  tx.update(audit)
    .set({ count: sql`${audit.count} + 1` })
    .where(eq(audit.id, recent.id))
    .run();
  return true;
}

/** True when the manifest is in Wharf's state for the repository. */
const knownManifest = (tx: Tx, repositoryId: number, digest: string): boolean =>
  !!tx
    .select({ id: manifests.id })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, repositoryId), eq(manifests.digest, digest)))
    .get();

/** Applies one event; false when it left the tag state alone. */
function applyOne(tx: Tx, e: RegistryEvent, opts: ApplyOptions, fetch: ApplyResult['fetch']): boolean {
  const { defaultProject } = opts;
  const at = eventTime(e, opts.nowMs);
  const actor = e.actor?.name || 'anonymous';
  const claimedAddr = addressOf(e.request?.addr);
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
    // The registry copies request.addr from the client's X-Forwarded-For: kept, labelled, never the source.
    sourceIp: internal ? null : grantAddress(tx, e.actor?.name ?? '', repository, Date.parse(at), opts.tokenLifetimeSeconds),
    detail: claimedAddr ? JSON.stringify({ claimedAddr }) : null,
    userAgent: e.request?.useragent?.slice(0, 512) ?? null,
  };

  if (e.action === 'push') {
    const repo = ensureRepository(tx, repository, defaultProject, internal ? undefined : { username: actor });
    const manifest = upsertManifest(tx, repo.id, { digest: e.target.digest!, mediaType: e.target.mediaType, pushedAt: at });
    if (e.target.tag) upsertTag(tx, repo.id, { name: e.target.tag, digest: e.target.digest!, pushedAt: at, pushedBy: actor });
    tx.update(repositories).set({ lastPushedAt: at }).where(eq(repositories.id, repo.id)).run();
    if (manifest.size === null) fetch.push({ repository, digest: e.target.digest! });
    // Wharf's own writes (tag-delete placeholders) are audited by the action that made them.
    if (!internal) recordAudit(tx, { ...row, action: 'push' });
    return true;
  }

  if (e.action === 'pull') {
    // A HEAD only asks whether a manifest exists (or which digest a tag names): the GET is the pull.
    if (internal || e.request?.method?.toUpperCase() === 'HEAD') return false;
    const repo = findRepository(tx, repository);
    const digest = e.target.digest!;
    if (repo && !e.target.tag && isIndexChild(tx, repo.id, digest)) return false;
    if (repo) recordPull(tx, repo.id, at, e.target.tag, digest);
    if (!foldPullAudit(tx, row, at)) recordAudit(tx, { ...row, action: 'pull' });
    return false;
  }

  // delete: by digest removes the manifest and its tags; the per-tag events (and v3's tag deletes)
  // carry no digest and remove only that tag.
  const repo = findRepository(tx, repository);
  if (e.target.digest && !(repo && knownManifest(tx, repo.id, e.target.digest))) {
    // A blob delete's event looks like a manifest delete's (no media type): it names no manifest here.
    if (!internal) recordAudit(tx, { ...row, action: 'blob_delete', resourceType: 'blob', resource: `${repository}@${e.target.digest}` });
    return false;
  }
  if (repo) {
    if (e.target.digest) removeManifest(tx, repo.id, e.target.digest);
    else removeTag(tx, repo.id, e.target.tag!);
    dropRepositoryIfEmpty(tx, repo.id);
  }
  if (!internal) recordAudit(tx, { ...row, action: 'delete' });
  return true;
}

/**
 * Applies events in order, each once: an id seen before changes nothing. Each event runs in its own
 * savepoint, so one that fails is reported and the rest still land.
 */
export function applyEvents(db: Db, events: RegistryEvent[], opts: ApplyOptions): ApplyResult {
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
            if (applyOne(sp, e, opts, result.fetch)) noteChange(db, e.target.repository);
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
