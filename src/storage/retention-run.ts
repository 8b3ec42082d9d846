import type { Deps } from '../deps';
import type { Db } from '../db/open';
import { contextFor } from '../context';
import { transaction } from '../db/transaction';
import { recordAudit } from '../audit/record';
import { AppError } from '../errors';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../identity/principal';
import { deleteImage, deleteTag } from '../artifacts/delete';
import { findRepository, tagDigest, tagsOfDigest } from '../artifacts/store';
import { getExecution } from '../jobs/executions';
import { RetryableError } from '../jobs/errors';
import type { RetryPolicy, TaskHandler } from '../jobs/runner';
import { parseGlobRules } from './gates';
import { projectStorageOf } from './store';
import { planRetention } from './retention-plan';
import { blobsOfProject, bytesReclaimable, executionResults, projectNameOf, retentionManifestsOfProject, retentionTagsOfProject, setExecutionResult } from './retention-store';
import { deletedSoFar, parseResult, parseRules, type RetentionResult } from './retention';

/** How many deleted tags a `retention_run` audit row names; the execution's result keeps them all. */
export const AUDIT_TAGS_MAX = 1000;
/** The result (with the whole plan) is stored after this many deletions, or sooner by time; the checkpoint after each. */
const SAVE_EVERY = 50;
const SAVE_EVERY_MS = 5_000;

/** A run's progress as its task's checkpoint: how many planned deletions are behind it, and which were skipped. */
interface Progress {
  done: number;
  skipped: RetentionResult['skipped'];
}

/** A run waits out the read-only window (GC) by retrying; many attempts, spaced up to a minute apart. */
export const retentionRetryPolicy = (): RetryPolicy => ({ maxAttempts: 1000, baseDelayMs: 2_000, maxDelayMs: 60_000, timeoutMs: 24 * 3600_000 });

/** Plans a project's run from its tag state now: what it deletes, what stays, and the bytes the deletions free once GC runs. */
export async function planProject(db: Db, projectId: number, now: number): Promise<RetentionResult> {
  const row = await projectStorageOf(db, projectId);
  const rules = parseRules(row?.retentionRules);
  const [tags, manifests] = [await retentionTagsOfProject(db, projectId), await retentionManifestsOfProject(db, projectId)];
  const plan = planRetention({
    policy: { rules, untagged: row?.retentionUntagged ?? 'keep' },
    tags,
    manifests,
    immutable: parseGlobRules(row?.immutabilityRules),
    now,
  });
  return {
    planned: { delete: plan.delete, deleteUntagged: plan.deleteUntagged },
    kept: plan.kept,
    bytesReclaimable: bytesReclaimable(await blobsOfProject(db, projectId), plan.manifestsDeleted),
    skippedImmutable: plan.skippedImmutable.map(({ repository, tag, digest }) => ({ repository, tag, digest })),
    done: 0,
    skipped: [],
  };
}

/** What a planned deletion that failed means: skipped with a reason, a wait (read-only window), or a failure of the run. */
function skipReason(err: unknown): string | null {
  if (!(err instanceof AppError)) return null;
  if (err.code === 'read_only') throw new RetryableError(err.message);
  if (err.code === 'not_found') return 'gone';
  if (err.code === 'tag_immutable') return 'immutable';
  if (err.key === 'delete.inIndex') return 'in_index';
  return null;
}

/** 'moved' when a planned tag now points at another digest, 'tagged' when a planned untagged image has a tag now; else null. */
async function changedSincePlan(db: Db, tag: { repository: string; tag: string; digest: string } | null, image: { repository: string; digest: string } | null): Promise<string | null> {
  const repository = await findRepository(db, (tag ?? image)!.repository);
  if (!repository) return null;
  if (tag) {
    const now = await tagDigest(db, repository.id, tag.tag);
    return now !== undefined && now !== tag.digest ? 'moved' : null;
  }
  return (await tagsOfDigest(db, repository.id, image!.digest)).length > 0 ? 'tagged' : null;
}

/**
 * Runs a retention execution's one task: plans (or takes the plan stored by an earlier attempt),
 * stores it on the execution, then, unless a dry run, deletes each planned tag through the API's
 * single-tag delete and each untagged manifest through the image delete, storing progress as it
 * goes. Ends with one `retention_run` audit row naming the deleted tags.
 */
export function retentionHandler(deps: Deps): TaskHandler {
  return async (task) => {
    const projectId = Number(task.payload.projectId);
    const execution = await getExecution(deps.db, task.executionId);
    const project = await projectNameOf(deps.db, projectId);
    if (!execution || project === undefined) return { status: 'failed', error: 'the project was deleted' };
    let result = parseResult((await executionResults(deps.db, [task.executionId])).get(task.executionId));
    if (!result) {
      result = await planProject(deps.db, projectId, deps.clock.now());
      if (task.dryRun) result.done = result.planned.delete.length + result.planned.deleteUntagged.length;
      await setExecutionResult(deps.db, task.executionId, JSON.stringify(result));
    }
    const state = result;
    // The checkpoint (small, written after every deletion) may be ahead of the stored result.
    const checkpoint = task.checkpoint as Progress | null;
    if (checkpoint && typeof checkpoint.done === 'number' && checkpoint.done > state.done && Array.isArray(checkpoint.skipped)) {
      state.done = checkpoint.done;
      state.skipped = checkpoint.skipped;
    }
    const save = () => setExecutionResult(deps.db, task.executionId, JSON.stringify(state));
    const ctx = contextFor(deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
    const nTags = state.planned.delete.length;
    const total = nTags + state.planned.deleteUntagged.length;
    let lastSave = deps.clock.now();
    let unsaved = 0;
    try {
      while (state.done < total) {
        if (task.signal.aborted) throw new RetryableError('retention run interrupted');
        const i = state.done;
        const tag = i < nTags ? state.planned.delete[i]! : null;
        const image = tag ? null : state.planned.deleteUntagged[i - nTags]!;
        try {
          // The plan may be hours old (a run waits out the read-only window): a tag pushed again
          // since, or an untagged image tagged since, is no longer what was planned.
          const changed = await changedSincePlan(deps.db, tag, image);
          if (changed) state.skipped.push({ repository: (tag ?? image)!.repository, tag: tag?.tag ?? null, digest: (tag ?? image)!.digest, reason: changed });
          else if (tag) await deleteTag(ctx, tag.repository, tag.tag);
          else await deleteImage(ctx, image!.repository, image!.digest, { force: false });
        } catch (err) {
          const reason = skipReason(err);
          if (reason === null) throw err;
          state.skipped.push({ repository: (tag ?? image)!.repository, tag: tag?.tag ?? null, digest: (tag ?? image)!.digest, reason });
        }
        state.done++;
        await task.saveCheckpoint({ done: state.done, skipped: state.skipped } satisfies Progress);
        if (++unsaved >= SAVE_EVERY || deps.clock.now() - lastSave >= SAVE_EVERY_MS) {
          await save();
          unsaved = 0;
          lastSave = deps.clock.now();
        }
      }
    } finally {
      // Also when this attempt made no deletion: the checkpoint may be ahead of the stored result.
      await save();
    }
    const deleted = deletedSoFar(state);
    await transaction(deps.db, (tx) =>
      recordAudit(tx, {
        username: execution.createdBy ?? SYSTEM_ACTOR.username,
        action: 'retention_run',
        resourceType: 'project',
        resource: project,
        project,
        detail: JSON.stringify({
          execution: execution.id,
          trigger: execution.trigger,
          dryRun: execution.dryRun,
          deletedCount: deleted.tags.length,
          deleted: deleted.tags.slice(0, AUDIT_TAGS_MAX).map((d) => `${d.repository}:${d.tag}`),
          ...(deleted.tags.length > AUDIT_TAGS_MAX ? { truncated: true } : {}),
          untaggedDeleted: deleted.untagged.length,
          skipped: state.skipped.length,
          kept: state.kept,
          bytesReclaimable: state.bytesReclaimable,
        }),
      }),
    );
    return { status: 'succeeded', reason: `${execution.dryRun ? 'would delete' : 'deleted'} ${deleted.tags.length} tags and ${deleted.untagged.length} untagged images` };
  };
}
