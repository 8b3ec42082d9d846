import { and, asc, count, desc, eq, exists, gt, inArray, isNull, lt, notExists, sql, type SQL } from 'drizzle-orm';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { Db, Tx } from '../db/open';
import { engineOf, firstRow, rowsChanged, tablesOf, type Tables } from '../db/engine';

export type ExecutionRow = Tables['jobExecutions']['$inferSelect'];
export type TaskRow = Tables['jobTasks']['$inferSelect'];
export type ExecutionStatus = ExecutionRow['status'];
export type TaskStatus = TaskRow['status'];

/** Rows per INSERT: four values a row stays far below either engine's limit on bound values. */
const TASK_BATCH = 1000;

export async function insertExecution(tx: Tx, values: Tables['jobExecutions']['$inferInsert']): Promise<ExecutionRow> {
  const { jobExecutions } = tablesOf(tx);
  return (await firstRow(tx.insert(jobExecutions).values(values).returning()))!;
}

export async function insertTasks(
  tx: Tx,
  executionId: number,
  tasks: { payload: string; status: 'pending' | 'skipped'; reason: string | null; finishedAt: string | null }[],
): Promise<void> {
  const { jobTasks } = tablesOf(tx);
  for (let at = 0; at < tasks.length; at += TASK_BATCH) {
    await tx.insert(jobTasks).values(tasks.slice(at, at + TASK_BATCH).map((t) => ({ executionId, ...t })));
  }
}

export async function executionById(db: Db, id: number): Promise<ExecutionRow | undefined> {
  const { jobExecutions } = tablesOf(db);
  return firstRow(db.select().from(jobExecutions).where(eq(jobExecutions.id, id)));
}

/** The execution of `kind` (for `subjectId`) that has not finished, if any. */
export async function unfinishedExecution(db: Db, kind: string, subjectId: number | null): Promise<ExecutionRow | undefined> {
  const { jobExecutions } = tablesOf(db);
  const subject = subjectId === null ? isNull(jobExecutions.subjectId) : eq(jobExecutions.subjectId, subjectId);
  return firstRow(
    db
      .select()
      .from(jobExecutions)
      .where(and(eq(jobExecutions.kind, kind), subject, isNull(jobExecutions.finishedAt)))
      .orderBy(asc(jobExecutions.id))
      .limit(1),
  );
}

/**
 * Makes the caller's transaction the only one creating executions of `kind` until it ends: on
 * PostgreSQL a transaction-scoped advisory lock; on SQLite transactions already take turns.
 */
export async function lockKind(tx: Tx, kind: string): Promise<void> {
  if (engineOf(tx) === 'postgres') await (tx as unknown as PgDatabase<never>).execute(sql`SELECT pg_advisory_xact_lock(hashtext('wharf.jobs'), hashtext(${kind}))`);
}

export async function listExecutionRows(
  db: Db,
  q: { kind: string; subjectId?: number; status?: ExecutionStatus; limit: number; before?: number },
): Promise<ExecutionRow[]> {
  const { jobExecutions } = tablesOf(db);
  const where: SQL[] = [eq(jobExecutions.kind, q.kind)];
  if (q.subjectId !== undefined) where.push(eq(jobExecutions.subjectId, q.subjectId));
  if (q.status !== undefined) where.push(eq(jobExecutions.status, q.status));
  if (q.before !== undefined) where.push(lt(jobExecutions.id, q.before));
  return db
    .select()
    .from(jobExecutions)
    .where(and(...where))
    .orderBy(desc(jobExecutions.id))
    .limit(q.limit);
}

export interface TaskCounts {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  skipped: number;
  stopped: number;
  bytes: number;
}

export const noTasks = (): TaskCounts => ({ total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, skipped: 0, stopped: 0, bytes: 0 });

/** Tasks by status and bytes moved of each execution, in one grouped query. */
export async function taskCounts(db: Db, executionIds: number[]): Promise<Map<number, TaskCounts>> {
  const counts = new Map<number, TaskCounts>(executionIds.map((id) => [id, noTasks()]));
  if (executionIds.length === 0) return counts;
  const { jobTasks } = tablesOf(db);
  const rows = await db
    .select({
      executionId: jobTasks.executionId,
      status: jobTasks.status,
      n: count().mapWith(Number),
      bytes: sql<number>`coalesce(sum(${jobTasks.bytes}), 0)`.mapWith(Number),
    })
    .from(jobTasks)
    .where(inArray(jobTasks.executionId, executionIds))
    .groupBy(jobTasks.executionId, jobTasks.status);
  for (const row of rows) {
    const c = counts.get(row.executionId)!;
    c[row.status] += row.n;
    c.total += row.n;
    c.bytes += row.bytes;
  }
  return counts;
}

export async function listTaskRows(db: Db, executionId: number, q: { status?: TaskStatus; limit: number; after?: number }): Promise<TaskRow[]> {
  const { jobTasks } = tablesOf(db);
  const where: SQL[] = [eq(jobTasks.executionId, executionId)];
  if (q.status !== undefined) where.push(eq(jobTasks.status, q.status));
  if (q.after !== undefined) where.push(gt(jobTasks.id, q.after));
  return db
    .select()
    .from(jobTasks)
    .where(and(...where))
    .orderBy(asc(jobTasks.id))
    .limit(q.limit);
}

export async function taskById(db: Db, id: number): Promise<TaskRow | undefined> {
  const { jobTasks } = tablesOf(db);
  return firstRow(db.select().from(jobTasks).where(eq(jobTasks.id, id)));
}

/**
 * Claims one task for `owner`: the oldest that is pending and due, or running on a lease that
 * has passed, of an unfinished, unstopped execution of one of `kinds` with fewer live leases than
 * its concurrency. One statement: on SQLite atomic by itself (one writer); on PostgreSQL the
 * executions with room and the task are locked with SKIP LOCKED, so two instances never take the
 * same task and an execution's room is counted by one claimer at a time.
 */
export async function claimTask(db: Db, claim: { owner: string; kinds: string[]; now: number; leaseMs: number; startedAt: string }): Promise<TaskRow | undefined> {
  if (claim.kinds.length === 0) return undefined;
  const { jobTasks } = tablesOf(db);
  const pg = engineOf(db) === 'postgres';
  const skipLocked = pg ? sql` FOR UPDATE SKIP LOCKED` : sql``;
  const kinds = sql.join(
    claim.kinds.map((k) => sql`${k}`),
    sql`, `,
  );
  const withRoom = sql`SELECT e.id FROM job_executions e
    WHERE e.kind IN (${kinds}) AND e.finished_at IS NULL AND NOT e.stop_requested
      AND (SELECT count(*) FROM job_tasks r WHERE r.execution_id = e.id AND r.status = 'running' AND r.locked_until >= ${claim.now}) < e.concurrency${skipLocked}`;
  const candidate = sql`SELECT c.id FROM job_tasks c
    WHERE c.execution_id IN (${withRoom})
      AND ((c.status = 'pending' AND (c.not_before IS NULL OR c.not_before <= ${claim.now})) OR (c.status = 'running' AND c.locked_until < ${claim.now}))
    ORDER BY c.id LIMIT 1${skipLocked}`;
  return firstRow(
    db
      .update(jobTasks)
      .set({
        status: 'running',
        leaseOwner: claim.owner,
        lockedUntil: claim.now + claim.leaseMs,
        attempts: sql`${jobTasks.attempts} + 1`,
        startedAt: sql`coalesce(${jobTasks.startedAt}, ${claim.startedAt})`,
      })
      .where(sql`${jobTasks.id} = (${candidate})`)
      .returning(),
  );
}

/** The first claim of an execution's task starts it. */
export async function markStarted(db: Db, executionId: number, at: string): Promise<void> {
  const { jobExecutions } = tablesOf(db);
  await db
    .update(jobExecutions)
    .set({ status: 'running', startedAt: sql`coalesce(${jobExecutions.startedAt}, ${at})` })
    .where(and(eq(jobExecutions.id, executionId), eq(jobExecutions.status, 'pending')));
}

const heldBy = (t: Tables['jobTasks'], id: number, owner: string) => and(eq(t.id, id), eq(t.leaseOwner, owner), eq(t.status, 'running'));

/** Extends the lease and stores the bytes so far; false when the lease is no longer `owner`'s. */
export async function renewLease(db: Db, id: number, owner: string, lockedUntil: number, bytes: number): Promise<boolean> {
  const { jobTasks } = tablesOf(db);
  return rowsChanged(await db.update(jobTasks).set({ lockedUntil, bytes }).where(heldBy(jobTasks, id, owner))) > 0;
}

export async function saveTaskCheckpoint(db: Db, id: number, owner: string, checkpoint: string): Promise<boolean> {
  const { jobTasks } = tablesOf(db);
  return rowsChanged(await db.update(jobTasks).set({ checkpoint }).where(heldBy(jobTasks, id, owner))) > 0;
}

export async function stopWasRequested(db: Db, executionId: number): Promise<boolean> {
  const { jobExecutions } = tablesOf(db);
  const row = await firstRow(db.select({ stop: jobExecutions.stopRequested }).from(jobExecutions).where(eq(jobExecutions.id, executionId)));
  return row === undefined || row.stop;
}

/** Ends a held task; false when the lease was lost meanwhile (another claimer owns the outcome). */
export async function endTask(
  db: Db,
  id: number,
  owner: string,
  end: { status: 'succeeded' | 'skipped' | 'failed' | 'stopped'; reason: string | null; error: string | null; bytes: number; finishedAt: string },
): Promise<boolean> {
  const { jobTasks } = tablesOf(db);
  return rowsChanged(await db.update(jobTasks).set({ ...end, leaseOwner: null, lockedUntil: null }).where(heldBy(jobTasks, id, owner))) > 0;
}

/** Puts a held task back to pending, due at `notBefore` (a retry) or at once; `refund` gives its attempt back (a shutdown, not its failure). */
export async function returnTask(db: Db, id: number, owner: string, back: { notBefore: number | null; error: string | null; bytes: number; refund: boolean }): Promise<boolean> {
  const { jobTasks } = tablesOf(db);
  return (
    rowsChanged(
      await db
        .update(jobTasks)
        .set({
          status: 'pending',
          notBefore: back.notBefore,
          error: back.error,
          bytes: back.bytes,
          leaseOwner: null,
          lockedUntil: null,
          ...(back.refund ? { attempts: sql`${jobTasks.attempts} - 1` } : {}),
        })
        .where(heldBy(jobTasks, id, owner)),
    ) > 0
  );
}

/** Every running task back to pending: on SQLite, at start, the leases a crashed run of the one instance left. */
export async function releaseAllLeases(db: Db): Promise<number> {
  const { jobTasks } = tablesOf(db);
  return rowsChanged(await db.update(jobTasks).set({ status: 'pending', leaseOwner: null, lockedUntil: null }).where(eq(jobTasks.status, 'running')));
}

/**
 * Finishes the execution when none of its tasks is pending or running: stopped when a stop was
 * asked, failed when a task failed or the execution has its own error, else succeeded. Returns
 * the finished row to exactly one caller.
 */
export async function settleExecution(db: Db, id: number, at: string): Promise<ExecutionRow | undefined> {
  const { jobExecutions, jobTasks } = tablesOf(db);
  const failedTask = db
    .select({ one: sql`1` })
    .from(jobTasks)
    .where(and(eq(jobTasks.executionId, jobExecutions.id), eq(jobTasks.status, 'failed')));
  const unfinishedTask = db
    .select({ one: sql`1` })
    .from(jobTasks)
    .where(and(eq(jobTasks.executionId, id), inArray(jobTasks.status, ['pending', 'running'])));
  return firstRow(
    db
      .update(jobExecutions)
      .set({
        status: sql`CASE WHEN ${jobExecutions.stopRequested} THEN 'stopped' WHEN ${jobExecutions.error} IS NOT NULL OR ${exists(failedTask)} THEN 'failed' ELSE 'succeeded' END`,
        finishedAt: at,
        startedAt: sql`coalesce(${jobExecutions.startedAt}, ${at})`,
      })
      .where(and(eq(jobExecutions.id, id), isNull(jobExecutions.finishedAt), notExists(unfinishedTask)))
      .returning(),
  );
}

/** Asks the execution to stop: its pending tasks end stopped at once; running ones see the request on their next renewal. */
export async function requestStop(tx: Tx, id: number, at: string): Promise<void> {
  const { jobExecutions, jobTasks } = tablesOf(tx);
  await tx.update(jobExecutions).set({ stopRequested: true }).where(eq(jobExecutions.id, id));
  await tx
    .update(jobTasks)
    .set({ status: 'stopped', finishedAt: at })
    .where(and(eq(jobTasks.executionId, id), eq(jobTasks.status, 'pending')));
}

/**
 * Tasks of stopped executions still marked running on a lease that has passed (their instance
 * went away before it saw the stop) end stopped; answers the executions touched, to settle.
 */
export async function stopAbandoned(db: Db, now: number, at: string): Promise<number[]> {
  const { jobExecutions, jobTasks } = tablesOf(db);
  const stopping = db.select({ id: jobExecutions.id }).from(jobExecutions).where(and(eq(jobExecutions.stopRequested, true), isNull(jobExecutions.finishedAt)));
  const rows = await db
    .update(jobTasks)
    .set({ status: 'stopped', finishedAt: at, leaseOwner: null, lockedUntil: null })
    .where(and(eq(jobTasks.status, 'running'), lt(jobTasks.lockedUntil, now), inArray(jobTasks.executionId, stopping)))
    .returning({ executionId: jobTasks.executionId });
  return [...new Set(rows.map((r) => r.executionId))];
}

/** Failed and stopped tasks back to pending with fresh attempts (checkpoints kept, so they resume); the execution unfinished again. */
export async function resetForRetry(tx: Tx, id: number): Promise<number> {
  const { jobExecutions, jobTasks } = tablesOf(tx);
  const reset = rowsChanged(
    await tx
      .update(jobTasks)
      .set({ status: 'pending', attempts: 0, error: null, reason: null, notBefore: null, finishedAt: null, leaseOwner: null, lockedUntil: null })
      .where(and(eq(jobTasks.executionId, id), inArray(jobTasks.status, ['failed', 'stopped']))),
  );
  await tx.update(jobExecutions).set({ status: 'pending', error: null, stopRequested: false, finishedAt: null }).where(eq(jobExecutions.id, id));
  return reset;
}

/** How many of the execution's tasks are failed or stopped. */
export async function retryableTaskCount(db: Db, id: number): Promise<number> {
  const { jobTasks } = tablesOf(db);
  const row = await firstRow(
    db
      .select({ n: count().mapWith(Number) })
      .from(jobTasks)
      .where(and(eq(jobTasks.executionId, id), inArray(jobTasks.status, ['failed', 'stopped']))),
  );
  return row?.n ?? 0;
}
