import { isoTime } from '../clock';
import type { Ctx } from '../context';
import type { Db } from '../db/open';
import { transaction } from '../db/transaction';
import { conflict, notFound } from '../errors';
import {
  executionById,
  insertExecution,
  insertTasks,
  listExecutionRows,
  listTaskRows,
  lockKind,
  noTasks,
  requestStop,
  resetForRetry,
  retryableTaskCount,
  taskCounts,
  unfinishedExecution,
  type ExecutionRow,
  type TaskCounts,
  type TaskRow,
} from './store';

export type Trigger = 'manual' | 'event' | 'cron' | 'creation' | 'schedule';

export interface NewTask {
  payload: Record<string, unknown>;
  status?: 'pending' | 'skipped';
  reason?: string | null;
}

/** An execution with its tasks counted by status and the bytes they moved (TaskCounts). */
export interface ExecutionView extends TaskCounts {
  id: number;
  kind: string;
  subjectId: number | null;
  subject: string | null;
  trigger: Trigger;
  dryRun: boolean;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped';
  error: string | null;
  createdAt: string;
  createdBy: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TaskView {
  id: number;
  executionId: number;
  payload: Record<string, unknown>;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'stopped';
  reason: string | null;
  bytes: number;
  attempts: number;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export const executionView = (row: ExecutionRow, counts: TaskCounts = noTasks()): ExecutionView => ({
  id: row.id,
  kind: row.kind,
  subjectId: row.subjectId,
  subject: row.subject,
  trigger: row.trigger,
  dryRun: row.dryRun,
  status: row.status,
  error: row.error,
  createdAt: row.createdAt,
  createdBy: row.createdBy,
  startedAt: row.startedAt,
  finishedAt: row.finishedAt,
  ...counts,
});

/** A stored payload that is not a JSON object (never written by Wharf) reads as empty. */
export function parsePayload(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const taskView = (row: TaskRow): TaskView => ({
  id: row.id,
  executionId: row.executionId,
  payload: parsePayload(row.payload),
  status: row.status,
  reason: row.reason,
  bytes: row.bytes,
  attempts: row.attempts,
  error: row.error,
  startedAt: row.startedAt,
  finishedAt: row.finishedAt,
});

/**
 * Inserts the execution and its tasks in one transaction (batched: 10,000 tasks are normal), then
 * ctx.deps.jobs.wake(). No pending task (none, all skipped) → finished at once: succeeded, or
 * failed when `error` is given (a plan that could not be made). With `unlessUnfinished`, an
 * execution of the same kind and subject that has not finished is answered instead of a new one.
 */
export async function createExecution(
  ctx: Ctx,
  input: {
    kind: string;
    subjectId?: number | null;
    subject?: string | null;
    trigger: Trigger;
    dryRun?: boolean;
    concurrency?: number;
    error?: string | null;
    tasks: NewTask[];
    unlessUnfinished?: boolean;
  },
): Promise<ExecutionView> {
  const at = isoTime(ctx.clock.now());
  const subjectId = input.subjectId ?? null;
  const made = await transaction(ctx.db, async (tx) => {
    if (input.unlessUnfinished) {
      await lockKind(tx, input.kind);
      const running = await unfinishedExecution(tx, input.kind, subjectId);
      if (running) return { row: running, created: false };
    }
    const row = await insertExecution(tx, {
      kind: input.kind,
      subjectId,
      subject: input.subject ?? null,
      trigger: input.trigger,
      dryRun: input.dryRun ?? false,
      concurrency: Math.max(1, input.concurrency ?? 4),
      error: input.error ?? null,
      createdBy: ctx.actor.username,
      createdAt: at,
    });
    await insertTasks(
      tx,
      row.id,
      input.tasks.map((t) => {
        const skipped = t.status === 'skipped';
        return { payload: JSON.stringify(t.payload), status: skipped ? 'skipped' : 'pending', reason: t.reason ?? null, finishedAt: skipped ? at : null };
      }),
    );
    return { row, created: true };
  });
  if (made.created) {
    // Settles an execution with nothing to run at once, and tells its listeners.
    await ctx.deps.jobs.settle(made.row.id, ctx.db);
    ctx.deps.jobs.wake();
  }
  return (await getExecution(ctx.db, made.row.id))!;
}

async function existing(db: Db, id: number): Promise<ExecutionRow> {
  const row = await executionById(db, id);
  if (!row) throw notFound('execution.notFound', { id });
  return row;
}

/**
 * Pending tasks → stopped; running ones are aborted (their signal) and end stopped; the execution ends `stopped`.
 * 404 `execution.notFound`; an execution already finished → 409 `execution.finished`.
 */
export async function stopExecution(ctx: Ctx, id: number): Promise<ExecutionView> {
  await transaction(ctx.db, async (tx) => {
    const row = await existing(tx, id);
    if (row.finishedAt !== null) throw conflict('execution.finished', { id });
    await requestStop(tx, id, isoTime(ctx.clock.now()));
  });
  // This instance's handlers stop now; another instance's at its next lease renewal.
  await ctx.deps.jobs.abortExecution(id);
  await ctx.deps.jobs.settle(id, ctx.db);
  return (await getExecution(ctx.db, id))!;
}

/**
 * Failed (and stopped) tasks → pending with attempts 0, error null; the execution runs again
 * (finishedAt null). 404 `execution.notFound`; nothing failed or stopped → 409 `execution.nothingToRetry`;
 * still running → 409 `execution.running`.
 */
export async function retryExecution(ctx: Ctx, id: number): Promise<ExecutionView> {
  await transaction(ctx.db, async (tx) => {
    const row = await existing(tx, id);
    if (row.finishedAt === null) throw conflict('execution.running', { id });
    if ((await retryableTaskCount(tx, id)) === 0) throw conflict('execution.nothingToRetry', { id });
    await resetForRetry(tx, id);
  });
  ctx.deps.jobs.wake();
  return (await getExecution(ctx.db, id))!;
}

export async function getExecution(db: Db, id: number): Promise<ExecutionView | undefined> {
  const row = await executionById(db, id);
  if (!row) return undefined;
  return executionView(row, (await taskCounts(db, [id])).get(id));
}

/** Newest first; `before` is an id for paging. */
export async function listExecutions(
  db: Db,
  q: { kind: string; subjectId?: number; status?: ExecutionView['status']; limit: number; before?: number },
): Promise<ExecutionView[]> {
  const rows = await listExecutionRows(db, q);
  const counts = await taskCounts(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => executionView(r, counts.get(r.id)));
}

/** In id order; `after` is an id for paging. */
export async function listTasks(db: Db, executionId: number, q: { status?: TaskView['status']; limit: number; after?: number }): Promise<TaskView[]> {
  return (await listTaskRows(db, executionId, q)).map(taskView);
}
