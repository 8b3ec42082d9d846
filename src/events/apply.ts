import { createHash } from 'node:crypto';
import { isolated, transaction, transactionOpen } from '../db/transaction';
import type { Db, Tx } from '../db/open';
import { markEventSeen } from './store';
import { recordEventAudit, type EventAuditRow } from '../audit/record';
import { projectOf } from '../access/roles';
import { INTERNAL_SUBJECT } from '../identity/principal';
import {
  dropRepositoryIfEmpty,
  ensurePushedRepository,
  findRepository,
  hasManifest,
  isIndexChild,
  recordPull,
  recordTagPull,
  removeManifest,
  removeTag,
  upsertManifest,
  upsertTag,
} from '../artifacts/store';
import { addressOf, type RegistryEvent } from './envelope';
import { noteChange } from '../artifacts/changes';
import { grantAddress } from '../token/grants';
import { isStorageFailure } from '../db/storage';
import { queueReplication } from '../replication/outbox';
import { noteImmutableMove } from '../storage/immutability-restore';
import { ActivityCounts } from '../storage/activity';

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

/**
 * Pulls of the same actor, manifest, tag and address in the same bucket share one audit row: its
 * key, unique-indexed, so folding is one upsert. Only the audit log is folded: pull counts take every pull.
 */
function pullFoldKey(row: { username: string; repository: string; digest: string | null; tag: string | null; sourceIp: string | null }, at: string): string {
  const t = Date.parse(at);
  const bucket = t - (t % PULL_AUDIT_BUCKET_MS);
  return createHash('sha256')
    .update(JSON.stringify(['pull', row.username, row.repository, row.digest, row.tag, row.sourceIp, bucket, PULL_AUDIT_BUCKET_MS]))
    .digest('base64url');
}

/** Applies one event; false when it left the tag state alone. */
async function applyOne(tx: Tx, e: RegistryEvent, opts: ApplyOptions, fetch: ApplyResult['fetch'], activity: ActivityCounts): Promise<boolean> {
  const { defaultProject } = opts;
  const at = eventTime(e, opts.nowMs);
  const actor = e.actor?.name || 'anonymous';
  const claimedAddr = addressOf(e.request?.addr);
  const repository = e.target.repository;
  const internal = actor === INTERNAL_SUBJECT;
  const row: Omit<EventAuditRow, 'action' | 'foldKey'> = {
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
    sourceIp: internal ? null : await grantAddress(tx, e.actor?.name ?? '', repository, Date.parse(at), opts.tokenLifetimeSeconds),
    detail: claimedAddr ? JSON.stringify({ claimedAddr }) : null,
    userAgent: e.request?.useragent?.slice(0, 512) ?? null,
  };

  if (e.action === 'push') {
    const repo = await ensurePushedRepository(tx, repository, defaultProject, at, internal ? undefined : { username: actor });
    const manifest = await upsertManifest(tx, repo.id, { digest: e.target.digest!, mediaType: e.target.mediaType, pushedAt: at });
    // A push moving an immutable tag is put back (queued) and audited; Wharf's own pushes are the restores.
    // The tag state keeps the image the tag is put back on: until then the registry's tag is wrong,
    // not Wharf's, and that image stays tagged (no delete, GC or retention takes it meanwhile).
    const violation = !internal && e.target.tag
      ? await noteImmutableMove(tx, { repository, tag: e.target.tag, digest: e.target.digest!, pusher: actor, at, sourceIp: row.sourceIp, userAgent: row.userAgent }, defaultProject)
      : false;
    if (e.target.tag && !violation) await upsertTag(tx, repo.id, { name: e.target.tag, digest: e.target.digest!, pushedAt: at, pushedBy: actor });
    if (manifest.size === null) fetch.push({ repository, digest: e.target.digest! });
    // Wharf's own writes (tag-delete placeholders) are audited by the action that made them.
    if (!internal) await recordEventAudit(tx, { ...row, action: 'push', foldKey: null });
    if (!internal) activity.add(row.project, at, 'push');
    if (!internal && e.target.tag && !violation)
      await queueReplication(tx, [{ operation: 'copy', repository, tag: e.target.tag, digest: e.target.digest! }], { defaultProject, nowMs: opts.nowMs });
    return true;
  }

  if (e.action === 'pull') {
    // A HEAD only asks whether a manifest exists (or which digest a tag names): the GET is the pull.
    if (internal || e.request?.method?.toUpperCase() === 'HEAD') return false;
    const digest = e.target.digest!;
    if (e.target.tag) await recordTagPull(tx, repository, at, e.target.tag);
    else {
      const repo = await findRepository(tx, repository);
      if (repo && await isIndexChild(tx, repo.id, digest)) return false;
      if (repo) await recordPull(tx, repo.id, at, undefined, digest);
    }
    await recordEventAudit(tx, { ...row, action: 'pull', foldKey: pullFoldKey(row, at) });
    activity.add(row.project, at, 'pull');
    return false;
  }

  // delete: by digest removes the manifest and its tags; the per-tag events (and v3's tag deletes)
  // carry no digest and remove only that tag.
  const repo = await findRepository(tx, repository);
  if (e.target.digest && !(repo && await hasManifest(tx, repo.id, e.target.digest))) {
    // A blob delete's event looks like a manifest delete's (no media type): it names no manifest here.
    if (!internal) await recordEventAudit(tx, { ...row, action: 'blob_delete', resourceType: 'blob', resource: `${repository}@${e.target.digest}`, foldKey: null });
    return false;
  }
  if (repo) {
    const gone = e.target.digest ? await removeManifest(tx, repo.id, e.target.digest) : (await removeTag(tx, repo.id, e.target.tag!)) > 0 ? [e.target.tag!] : [];
    await dropRepositoryIfEmpty(tx, repo.id);
    // Wharf's own deletes queue their replication themselves (artifacts/delete.ts).
    if (!internal)
      await queueReplication(tx, gone.map((tag) => ({ operation: 'delete' as const, repository, tag, digest: e.target.digest ?? null })), { defaultProject, nowMs: opts.nowMs });
  }
  if (!internal) await recordEventAudit(tx, { ...row, action: 'delete', foldKey: null });
  return true;
}

/** Records the event's id and applies it, unless that id was seen before. */
async function applyOnce(tx: Tx, e: RegistryEvent, opts: ApplyOptions, result: ApplyResult, activity: ActivityCounts): Promise<void> {
  if (!(await markEventSeen(tx, e.id))) {
    result.duplicates++;
    return;
  }
  if (await applyOne(tx, e, opts, result.fetch, activity)) await noteChange(tx, e.target.repository);
  result.applied++;
}

/**
 * Runs one event on its own (a savepoint inside the delivery's transaction, or a transaction for a
 * lone event), which undoes the event's writes when it throws: the failure is reported and the
 * other events still land.
 */
async function applyIsolated(db: Tx, e: RegistryEvent, opts: ApplyOptions, result: ApplyResult, batch: ActivityCounts | null): Promise<void> {
  // The rollback fails once SQLite has ended the transaction, hiding the cause: keep both facts.
  let cause: unknown;
  let ended = false;
  // This event's pushes and pulls: into the batch's counts once it has landed, or (a lone event) written with it.
  const activity = new ActivityCounts();
  try {
    await isolated(db, async (tx) => {
      try {
        await applyOnce(tx, e, opts, result, activity);
        if (!batch && !activity.empty) await activity.flush(tx);
      } catch (err) {
        cause = err;
        ended = !transactionOpen(tx);
        throw err;
      }
    });
  } catch (err) {
    // A full disk (or any error that ended the transaction, its start or its commit) fails the
    // whole delivery: the registry sends it again later, and nothing of it was kept.
    if (isStorageFailure(cause ?? err) || (cause === undefined ? !transactionOpen(db) : ended)) throw cause ?? err;
    result.failed.push({ id: e.id, reason: (err as Error).message.slice(0, 200) });
    return;
  }
  batch?.merge(activity);
}

/**
 * Applies events in order, each once: an id seen before changes nothing. Each event runs in its own
 * savepoint, so one that fails is reported and the rest still land.
 */
export async function applyEvents(db: Db, events: RegistryEvent[], opts: ApplyOptions): Promise<ApplyResult> {
  const result: ApplyResult = { applied: 0, duplicates: 0, failed: [], fetch: [] };
  // The registry sends one event an envelope: its own transaction is then all the isolation it needs.
  if (events.length === 1) await applyIsolated(db, events[0]!, opts, result, null);
  else
    await transaction(db, async (tx) => {
      // Pushes and pulls per project and day: one write each for the whole batch.
      const activity = new ActivityCounts();
      for (const e of events) await applyIsolated(tx, e, opts, result, activity);
      if (!activity.empty) await activity.flush(tx);
    });
  return result;
}
