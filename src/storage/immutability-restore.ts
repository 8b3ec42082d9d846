import type { Deps } from '../deps';
import type { Tx } from '../db/open';
import { projectOf } from '../access/roles';
import { recordAudit } from '../audit/record';
import { findRepository, tagDigest } from '../artifacts/store';
import { insertExecution, insertTasks } from '../jobs/store';
import { parsePayload } from '../jobs/executions';
import { RetryableError } from '../jobs/errors';
import type { RetryPolicy, TaskHandler } from '../jobs/runner';
import { RegistryError } from '../registry/client';
import { transaction } from '../db/transaction';
import { queueReplication } from '../replication/outbox';
import { readOnlyState } from './state';
import { immutableTagAmong } from './gates';
import { unfinishedPayloadOf } from './immutability-store';

/** The job kind that puts an immutable tag back on the image it named. */
export const IMMUTABLE_RESTORE_JOB = 'immutable_restore';

/** What a restore puts back: `tag` of `repository` onto `digest`, away from `violating`, which `pusher` pushed. */
export interface RestorePayload {
  repository: string;
  tag: string;
  digest: string;
  violating: string;
  pusher: string;
}

/** A restore waits out a read-only window (GC can take a while) and a registry that is down. */
export const restoreRetryPolicy = (): RetryPolicy => ({ maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: 120_000 });

const subjectOf = (repository: string, tag: string) => `${repository}:${tag}`;

/**
 * Called for a push event of a tag, before the tag is written: when the tag existed on another
 * image and an immutability rule of its project matches it, the push moved an immutable tag. Then
 * a restore is queued (run after commit: the ingest never waits on the registry) and the violation
 * is audited, both in the event's transaction. The digest put back is the one an unfinished restore
 * of the tag already puts back, else the tag's previous one, so a second push before the restore
 * ran does not make the first violation stick; a push back onto that digest is no violation.
 * Returns whether the push was a violation.
 */
export async function noteImmutableMove(
  tx: Tx,
  e: { repository: string; tag: string; digest: string; pusher: string; at: string; sourceIp: string | null; userAgent: string | null },
  defaultProject: string,
): Promise<boolean> {
  // The rules first: most projects have none, and then a push costs this one read.
  if ((await immutableTagAmong(tx, e.repository, [e.tag], defaultProject)) === null) return false;
  const repo = await findRepository(tx, e.repository);
  if (!repo) return false;
  const previous = await tagDigest(tx, repo.id, e.tag);
  if (previous === undefined) return false;
  const pending = await unfinishedPayloadOf(tx, IMMUTABLE_RESTORE_JOB, subjectOf(e.repository, e.tag));
  const pendingDigest = pending === undefined ? undefined : parsePayload(pending).digest;
  const recorded = typeof pendingDigest === 'string' ? pendingDigest : previous;
  if (recorded === e.digest) return false;
  const payload: RestorePayload = { repository: e.repository, tag: e.tag, digest: recorded, violating: e.digest, pusher: e.pusher };
  const execution = await insertExecution(tx, {
    kind: IMMUTABLE_RESTORE_JOB,
    subject: subjectOf(e.repository, e.tag),
    trigger: 'event',
    concurrency: 1,
    createdBy: null,
    createdAt: e.at,
  });
  await insertTasks(tx, execution.id, [{ payload: JSON.stringify(payload), status: 'pending', reason: null, finishedAt: null }]);
  await recordAudit(tx, {
    time: e.at,
    username: e.pusher,
    action: 'immutable_violation',
    resourceType: 'artifact',
    resource: subjectOf(e.repository, e.tag),
    project: projectOf(e.repository, defaultProject),
    repository: e.repository,
    tag: e.tag,
    digest: e.digest,
    sourceIp: e.sourceIp,
    userAgent: e.userAgent,
    detail: JSON.stringify({ old: recorded, new: e.digest, execution: execution.id }),
  });
  return true;
}

/** Whether `tag` of `repository` exists in Wharf's tag state and an immutability rule matches it. */
export async function isImmutableExistingTag(db: Tx, repository: string, tag: string, defaultProject: string): Promise<boolean> {
  if ((await immutableTagAmong(db, repository, [tag], defaultProject)) === null) return false;
  const repo = await findRepository(db, repository);
  return repo !== undefined && (await tagDigest(db, repo.id, tag)) !== undefined;
}

/**
 * Puts the manifest back under the tag: read by digest from the registry, with its media type, and
 * put under the tag with a token Wharf mints for itself. Its own push notification then sets the
 * tag state back (Wharf's own pushes are never violations). Retried while the registry is
 * read-only or cannot be reached.
 */
export function restoreHandler(deps: Pick<Deps, 'db' | 'registry' | 'config' | 'clock'>): TaskHandler {
  // Event-triggered push policies copy the tag once more after it is back: a copy queued by the
  // tag's earlier push could have run while the tag pointed elsewhere.
  const replicate = (p: RestorePayload) =>
    transaction(deps.db, (tx) =>
      queueReplication(tx, [{ operation: 'copy', repository: p.repository, tag: p.tag, digest: p.digest }], { defaultProject: deps.config.defaultProject.name, nowMs: deps.clock.now() }),
    );
  return async (task) => {
    const p = task.payload as unknown as RestorePayload;
    const state = await readOnlyState(deps.db);
    if (state.readOnly) throw new RetryableError('the registry is read-only; the tag is put back once it is writable');
    try {
      const current = await deps.registry.headManifest(p.repository, p.tag);
      if (current?.digest !== p.digest) {
        const manifest = await deps.registry.getManifest(p.repository, p.digest);
        if (!manifest) return { status: 'failed', error: `manifest ${p.digest} of ${p.repository} is no longer in the registry` };
        await deps.registry.putManifest(p.repository, p.tag, manifest.mediaType, manifest.body);
      }
      await replicate(p);
      return { status: 'succeeded' };
    } catch (err) {
      if (err instanceof RegistryError && (err.status === 0 || err.status === 429 || err.status >= 500)) throw new RetryableError(err.message);
      throw err;
    }
  };
}
