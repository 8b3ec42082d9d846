import { and, eq, gt, inArray, isNotNull, isNull } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';

/** The SQL of garbage collection: its results on the job executions, its schedule, what is untagged. */

export async function setExecutionResult(db: Tx, executionId: number, result: unknown): Promise<void> {
  const { jobExecutions: e } = tablesOf(db);
  await db.update(e).set({ result: JSON.stringify(result) }).where(eq(e.id, executionId));
}

/** The stored result text of each execution that has one. */
export async function executionResults(db: Tx, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const { jobExecutions: e } = tablesOf(db);
  const rows = await db.select({ id: e.id, result: e.result }).from(e).where(and(inArray(e.id, ids), isNotNull(e.result)));
  return new Map(rows.map((r) => [r.id, r.result!]));
}

export async function gcSchedule(db: Tx): Promise<{ cron: string | null; deleteUntagged: boolean }> {
  const { storageState: s } = tablesOf(db);
  const row = await firstRow(db.select({ cron: s.gcCron, deleteUntagged: s.gcDeleteUntagged }).from(s).where(eq(s.id, 1)));
  return { cron: row?.cron ?? null, deleteUntagged: row?.deleteUntagged ?? false };
}

export async function setGcSchedule(db: Tx, schedule: { cron: string | null; deleteUntagged: boolean }): Promise<void> {
  const { storageState: s } = tablesOf(db);
  await db.update(s).set({ gcCron: schedule.cron, gcDeleteUntagged: schedule.deleteUntagged }).where(eq(s.id, 1));
}

export interface ManifestRow {
  repositoryId: number;
  repository: string;
  projectId: number;
  digest: string;
  children: string | null;
  subject: string | null;
}

/** Every manifest Wharf knows, with its repository (one pass; the GC service decides what is untagged). */
export async function allManifests(db: Tx): Promise<ManifestRow[]> {
  const { manifests: m, repositories: r } = tablesOf(db);
  return db
    .select({ repositoryId: m.repositoryId, repository: r.name, projectId: r.projectId, digest: m.digest, children: m.children, subject: m.subject })
    .from(m)
    .innerJoin(r, eq(r.id, m.repositoryId))
    .orderBy(r.name, m.digest);
}

/** Every tag: repository id, name and digest. */
export async function allTags(db: Tx): Promise<{ repositoryId: number; name: string; digest: string }[]> {
  const { tags: t } = tablesOf(db);
  return db.select({ repositoryId: t.repositoryId, name: t.name, digest: t.digest }).from(t);
}

/** Projects whose retention policy keeps untagged images (a policy set, untagged 'keep'). */
export async function projectsKeepingUntagged(db: Tx): Promise<Set<number>> {
  const { projectStorage: ps } = tablesOf(db);
  const rows = await db
    .select({ projectId: ps.projectId })
    .from(ps)
    .where(and(isNotNull(ps.retentionRules), eq(ps.retentionUntagged, 'keep')));
  return new Set(rows.map((r) => r.projectId));
}

/** Running tasks of these job kinds on a lease that has not passed at `nowMs` (unfinished executions only); at most `limit`. */
export async function liveLeaseTasks(db: Tx, q: { kinds?: string[]; executionId?: number; nowMs: number }, limit = 10): Promise<{ id: number; kind: string; lockedUntil: number }[]> {
  const { jobExecutions: e, jobTasks: t } = tablesOf(db);
  const rows = await db
    .select({ id: t.id, kind: e.kind, lockedUntil: t.lockedUntil })
    .from(t)
    .innerJoin(e, eq(e.id, t.executionId))
    .where(
      and(
        eq(t.status, 'running'),
        gt(t.lockedUntil, q.nowMs),
        isNull(e.finishedAt),
        q.kinds ? inArray(e.kind, q.kinds) : undefined,
        q.executionId !== undefined ? eq(e.id, q.executionId) : undefined,
      ),
    )
    .limit(limit);
  return rows.map((r) => ({ id: r.id, kind: r.kind, lockedUntil: r.lockedUntil ?? 0 }));
}

/** Ends the unfinished tasks of an execution failed with `error` (an interrupted run); the caller settles it. */
export async function failUnfinishedTasks(db: Tx, executionId: number, error: string, at: string): Promise<void> {
  const { jobTasks: t } = tablesOf(db);
  await db
    .update(t)
    .set({ status: 'failed', error, finishedAt: at, leaseOwner: null, lockedUntil: null })
    .where(and(eq(t.executionId, executionId), inArray(t.status, ['pending', 'running'])));
}
