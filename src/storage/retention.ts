import { isoTime } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import { recordAudit } from '../audit/record';
import { managedProject } from '../access/projects';
import { badRequest, conflict, notFound } from '../errors';
import { globProblem } from '../replication/filters';
import { Cron } from 'croner';
import { cronProblem } from '../jobs/cron';
import { createExecution, getExecution, hasUnfinishedExecution, listExecutions, type ExecutionView, type Trigger } from '../jobs/executions';
import { projectStorageOf, updateProjectStorage, type ProjectStorageRow } from './store';
import { KEEP_KINDS, type KeepKind, type PlannedManifestDelete, type PlannedTagDelete, type RetentionRule } from './retention-plan';
import { executionResults } from './retention-store';

/** The job kind of retention runs: one task per execution, which plans and deletes. */
export const RETENTION_JOB = 'retention';

export const RETENTION_RULES_MAX = 50;
export const RETENTION_COUNT_MAX = 100_000;
export const RETENTION_DAYS_MAX = 36_500;

export interface RetentionPolicyView {
  rules: RetentionRule[];
  untagged: 'keep' | 'delete';
  cron: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface RetentionInput {
  rules: unknown;
  untagged?: unknown;
  cron?: unknown;
}

/** What a run stores on its execution (job_executions.result). */
export interface RetentionResult {
  planned: { delete: PlannedTagDelete[]; deleteUntagged: PlannedManifestDelete[] };
  kept: number;
  bytesReclaimable: number;
  skippedImmutable: PlannedTagDelete[];
  /** How many planned deletions (tags, then untagged manifests) have been done or skipped. */
  done: number;
  /** Planned deletions that did not happen, and why (gone meanwhile, made immutable, …). */
  skipped: { repository: string; tag: string | null; digest: string; reason: string }[];
}

export interface RetentionExecutionView {
  id: number;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  trigger: Trigger;
  dryRun: boolean;
  deletedCount: number;
  deleted: PlannedTagDelete[];
  deletedUntagged: PlannedManifestDelete[];
  skipped: RetentionResult['skipped'];
  skippedImmutable: PlannedTagDelete[];
  kept: number;
  bytesReclaimable: number;
  error: string | null;
  createdBy: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export function parseRules(json: string | null | undefined): RetentionRule[] {
  if (!json) return [];
  try {
    const rules = JSON.parse(json) as unknown;
    return Array.isArray(rules) ? (rules as RetentionRule[]) : [];
  } catch {
    return [];
  }
}

const policyView = (row: ProjectStorageRow | undefined): RetentionPolicyView => ({
  rules: parseRules(row?.retentionRules),
  untagged: row?.retentionUntagged ?? 'keep',
  cron: row?.retentionRules ? (row.retentionCron ?? null) : null,
  updatedAt: row?.updatedAt ?? null,
  updatedBy: row?.updatedBy ?? null,
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a policy as given (API or form) and returns it in its stored shape; 400 naming the rule and field otherwise. */
export function validateRetention(input: RetentionInput): { rules: RetentionRule[]; untagged: 'keep' | 'delete'; cron: string | null } {
  if (!Array.isArray(input.rules)) throw badRequest('retention.badRules');
  if (input.rules.length > RETENTION_RULES_MAX) throw badRequest('retention.tooManyRules', { max: RETENTION_RULES_MAX });
  const rules = input.rules.map((raw: unknown, index): RetentionRule => {
    if (!isRecord(raw)) throw badRequest('retention.badRule', { index });
    for (const field of ['repositories', 'tags'] as const) {
      const glob = raw[field];
      const problem = typeof glob === 'string' ? globProblem(glob, field === 'repositories' ? 'repository' : 'tag') : 'not a string';
      if (problem) throw badRequest('retention.badGlob', { index, field, glob: String(glob), problem });
    }
    const keep = raw.keep;
    if (typeof keep !== 'string' || !(KEEP_KINDS as readonly string[]).includes(keep)) throw badRequest('retention.badKeep', { index, kinds: KEEP_KINDS.join(', ') });
    const rule: RetentionRule = { repositories: raw.repositories as string, tags: raw.tags as string, keep: keep as KeepKind };
    if (keep === 'always') {
      if (raw.n !== undefined && raw.n !== null) throw badRequest('retention.nForbidden', { index });
      return rule;
    }
    const max = keep.endsWith('WithinDays') ? RETENTION_DAYS_MAX : RETENTION_COUNT_MAX;
    const n = raw.n;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) throw badRequest('retention.badN', { index, keep, max });
    return { ...rule, n };
  });
  const untagged = input.untagged ?? 'keep';
  if (untagged !== 'keep' && untagged !== 'delete') throw badRequest('retention.badUntagged');
  let cron: string | null = null;
  if (input.cron !== undefined && input.cron !== null && input.cron !== '') {
    if (typeof input.cron !== 'string') throw badRequest('retention.badCron', { cron: String(input.cron as string), problem: 'not a string' });
    const problem = input.cron.length > 200 ? 'longer than 200 characters' : (cronProblem(input.cron) ?? tooFrequent(input.cron));
    if (problem) throw badRequest('retention.badCron', { cron: input.cron, problem });
    if (rules.length === 0) throw badRequest('retention.cronWithoutRules');
    cron = input.cron.trim();
  }
  return { rules, untagged, cron };
}

/** Each run plans the whole project: a schedule may fire at most every five minutes. */
const RETENTION_MIN_INTERVAL_MS = 5 * 60_000;

function tooFrequent(expr: string): string | null {
  const cron = new Cron(expr.trim(), { paused: true });
  try {
    const runs = cron.nextRuns(12);
    for (let i = 1; i < runs.length; i++)
      if (runs[i]!.getTime() - runs[i - 1]!.getTime() < RETENTION_MIN_INTERVAL_MS) return 'runs more often than every five minutes';
    return null;
  } finally {
    cron.stop();
  }
}

/** A project's retention policy (projectAdmin or system admin). */
export async function getRetention(ctx: Ctx, projectName: string): Promise<RetentionPolicyView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  return policyView(await projectStorageOf(ctx.db, project.id));
}

/**
 * Replaces a project's retention policy; `rules: []` without a cron clears it. Audited
 * `retention_set` with the old and new policy; the cron triggers follow after commit.
 */
export async function setRetention(ctx: Ctx, projectName: string, input: RetentionInput): Promise<RetentionPolicyView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const policy = validateRetention(input);
  const view = await transaction(ctx.db, async (tx) => {
    const before = policyView(await projectStorageOf(tx, project.id));
    await updateProjectStorage(tx, project.id, {
      retentionRules: policy.rules.length > 0 ? JSON.stringify(policy.rules) : null,
      retentionUntagged: policy.untagged,
      retentionCron: policy.cron,
      updatedAt: isoTime(ctx.clock.now()),
      updatedBy: ctx.actor.username,
    });
    const after = policyView(await projectStorageOf(tx, project.id));
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'retention_set',
      resourceType: 'project',
      resource: project.name,
      project: project.name,
      sourceIp: ctx.actor.ip ?? null,
      userAgent: ctx.actor.userAgent ?? null,
      detail: JSON.stringify({
        old: { rules: before.rules, untagged: before.untagged, cron: before.cron },
        new: { rules: after.rules, untagged: after.untagged, cron: after.cron },
      }),
    });
    return after;
  });
  await ctx.deps.retention?.policyChanged();
  return view;
}

/**
 * Starts a run of the project's policy (manual: projectAdmin or system admin; cron: Wharf). 409
 * when the project has no policy, or while a run of it has not finished.
 */
export async function startRetention(ctx: Ctx, projectName: string, opts: { dryRun?: boolean; trigger?: Trigger }): Promise<RetentionExecutionView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  if (parseRules((await projectStorageOf(ctx.db, project.id))?.retentionRules).length === 0) throw conflict('retention.noPolicy', { project: project.name });
  if (await hasUnfinishedExecution(ctx.db, RETENTION_JOB, project.id)) throw conflict('retention.running', { project: project.name });
  const execution = await createExecution(ctx, {
    kind: RETENTION_JOB,
    subjectId: project.id,
    subject: project.name,
    trigger: opts.trigger ?? 'manual',
    dryRun: opts.dryRun ?? false,
    concurrency: 1,
    tasks: [{ payload: { projectId: project.id } }],
    unlessUnfinished: true,
  });
  return executionOf(execution, undefined);
}

export function parseResult(text: string | undefined): RetentionResult | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as RetentionResult;
  } catch {
    return undefined;
  }
}

/** The deletions a run has made so far (a dry run: all it would make). */
export function deletedSoFar(result: RetentionResult): { tags: PlannedTagDelete[]; untagged: PlannedManifestDelete[] } {
  const skipped = new Set(result.skipped.map((s) => `${s.repository}\n${s.tag ?? ''}\n${s.digest}`));
  const nTags = result.planned.delete.length;
  const tags = result.planned.delete.slice(0, result.done).filter((d) => !skipped.has(`${d.repository}\n${d.tag}\n${d.digest}`));
  const untagged = result.planned.deleteUntagged.slice(0, Math.max(0, result.done - nTags)).filter((d) => !skipped.has(`${d.repository}\n\n${d.digest}`));
  return { tags, untagged };
}

function executionOf(e: ExecutionView, result: RetentionResult | undefined): RetentionExecutionView {
  const deleted = result ? deletedSoFar(result) : { tags: [], untagged: [] };
  return {
    id: e.id,
    status: e.status === 'stopped' ? 'failed' : e.status,
    trigger: e.trigger,
    dryRun: e.dryRun,
    deletedCount: deleted.tags.length,
    deleted: deleted.tags,
    deletedUntagged: deleted.untagged,
    skipped: result?.skipped ?? [],
    skippedImmutable: result?.skippedImmutable ?? [],
    kept: result?.kept ?? 0,
    bytesReclaimable: result?.bytesReclaimable ?? 0,
    error: e.error,
    createdBy: e.createdBy,
    startedAt: e.startedAt,
    finishedAt: e.finishedAt,
  };
}

/** A project's retention runs, newest first (projectAdmin or system admin); `before` an id for paging. */
export async function listRetentionExecutions(ctx: Ctx, projectName: string, q: { limit: number; before?: number }): Promise<RetentionExecutionView[]> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const executions = await listExecutions(ctx.db, { kind: RETENTION_JOB, subjectId: project.id, limit: q.limit, ...(q.before ? { before: q.before } : {}) });
  const results = await executionResults(
    ctx.db,
    executions.map((e) => e.id),
  );
  return executions.map((e) => executionOf(e, parseResult(results.get(e.id))));
}

export async function getRetentionExecution(ctx: Ctx, projectName: string, id: number): Promise<RetentionExecutionView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const e = await getExecution(ctx.db, id);
  if (!e || e.kind !== RETENTION_JOB || e.subjectId !== project.id) throw notFound('execution.notFound', { id });
  return executionOf(e, parseResult((await executionResults(ctx.db, [id])).get(id)));
}
