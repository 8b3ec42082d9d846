import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { notFound } from '../errors';
import { getExecution, listExecutions, listTasks, retryExecution, stopExecution, type ExecutionView, type TaskView } from '../jobs/executions';
import { REPLICATION_JOB, startPolicyExecution, type ReplicationPayload } from '../replication/run';
import { policyRowByName } from '../replication/store';
import { authRequired, json, pick, requireAdmin, ROW_ID_MAX } from './route-kit';

export const EXECUTION_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'stopped'] as const;
export const TASK_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped', 'stopped'] as const;

export const ExecutionSchema = z
  .object({
    id: z.number().int(),
    policy: z.string().nullable(),
    trigger: z.enum(['manual', 'event', 'cron', 'creation', 'schedule']),
    dryRun: z.boolean(),
    status: z.enum(EXECUTION_STATUSES),
    error: z.string().nullable().openapi({ description: 'Why the execution failed as a whole (its plan could not be made)' }),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    total: z.number().int(),
    pending: z.number().int(),
    running: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    stopped: z.number().int(),
    bytes: z.number().int(),
  })
  .openapi('ReplicationExecution');

export const TaskSchema = z
  .object({
    id: z.number().int(),
    operation: z.enum(['copy', 'delete']),
    repository: z.string().openapi({ description: 'The source repository' }),
    tag: z.string(),
    digest: z.string().nullable(),
    destination: z.string().openapi({ description: 'The repository at the destination' }),
    status: z.enum(TASK_STATUSES),
    reason: z.string().nullable().openapi({ description: 'dry_run, exists, override_off, immutable or null' }),
    bytes: z.number().int(),
    attempts: z.number().int(),
    error: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('ReplicationTask');

export const executionView = (e: ExecutionView) => ({
  id: e.id,
  policy: e.subject,
  trigger: e.trigger,
  dryRun: e.dryRun,
  status: e.status,
  error: e.error,
  createdAt: e.createdAt,
  createdBy: e.createdBy,
  startedAt: e.startedAt,
  finishedAt: e.finishedAt,
  total: e.total,
  pending: e.pending,
  running: e.running,
  succeeded: e.succeeded,
  failed: e.failed,
  skipped: e.skipped,
  stopped: e.stopped,
  bytes: e.bytes,
});

export const taskView = (t: TaskView) => {
  const p = t.payload as unknown as ReplicationPayload;
  return {
    id: t.id,
    operation: p.operation,
    repository: p.repository,
    tag: p.tag,
    digest: p.digest,
    destination: p.destination,
    status: t.status,
    reason: t.reason,
    bytes: t.bytes,
    attempts: t.attempts,
    error: t.error,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
  };
};

const IdParam = z.object({ id: z.coerce.number().int().min(1).max(ROW_ID_MAX) });
const PolicyParam = z.object({ name: z.string().min(1).max(128) });
const tags = ['replication'];
/** No body is needed; an empty object is accepted for clients that always send one. */
const emptyBody = { required: false, content: { 'application/json': { schema: z.object({}).strict() } } };

/** A replication execution by id: 404 for an unknown id and for other jobs' executions. */
export async function replicationExecution(db: Parameters<typeof getExecution>[0], id: number): Promise<ExecutionView> {
  const execution = await getExecution(db, id);
  if (!execution || execution.kind !== REPLICATION_JOB) throw notFound('execution.notFound', { id: String(id) });
  return execution;
}

export function replicationExecutionRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/replication/policies/{name}/executions',
      tags,
      summary: "Run a policy now, or list what a run would do (dryRun: every task skipped with reason dry_run, nothing copied)",
      security: authRequired,
      request: { params: PolicyParam, body: { required: false, content: { 'application/json': { schema: z.object({ dryRun: z.boolean().optional() }).strict() } } } },
      responses: { 202: json(ExecutionSchema, 'Accepted'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      const ctx = ctxOf(c);
      const { name } = c.req.valid('param');
      const body = (c.req.header('content-type') ?? '').includes('json') ? c.req.valid('json') : {};
      const policy = await policyRowByName(ctx.db, name);
      if (!policy) throw notFound('replication.notFound', { name });
      const execution = await startPolicyExecution(ctx, policy, { trigger: 'manual', dryRun: body.dryRun ?? false });
      return c.json(executionView(execution), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/replication/executions',
      tags,
      summary: 'Replication executions, newest first',
      security: authRequired,
      request: {
        query: z.object({
          policy: z.string().min(1).max(128).optional(),
          status: z.enum(EXECUTION_STATUSES).optional(),
          pageSize: z.coerce.number().int().min(1).max(500).default(50),
          before: z.coerce.number().int().min(1).max(ROW_ID_MAX).optional().openapi({ description: 'Only executions older than this id (the last id of the previous page)' }),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(ExecutionSchema) }).openapi('ReplicationExecutionList')), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      const { db } = c.var.deps;
      const q = c.req.valid('query');
      let subjectId: number | undefined;
      if (q.policy !== undefined) {
        const policy = await policyRowByName(db, q.policy);
        if (!policy) throw notFound('replication.notFound', { name: q.policy });
        subjectId = policy.id;
      }
      const items = await listExecutions(db, { kind: REPLICATION_JOB, subjectId, status: q.status, limit: q.pageSize, before: q.before });
      return c.json({ items: items.map(executionView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/replication/executions/{id}',
      tags,
      summary: 'One replication execution with its counts',
      security: authRequired,
      request: { params: IdParam },
      responses: { 200: json(ExecutionSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(executionView(await replicationExecution(c.var.deps.db, c.req.valid('param').id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/replication/executions/{id}/stop',
      tags,
      summary: 'Stop an execution: pending tasks are stopped, running ones aborted',
      security: authRequired,
      request: { params: IdParam, body: emptyBody },
      responses: { 202: json(ExecutionSchema, 'Accepted'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      const ctx = ctxOf(c);
      const { id } = c.req.valid('param');
      await replicationExecution(ctx.db, id);
      return c.json(executionView(await stopExecution(ctx, id)), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/replication/executions/{id}/retry',
      tags,
      summary: 'Run the failed (and stopped) tasks of an execution again, in the same execution',
      security: authRequired,
      request: { params: IdParam, body: emptyBody },
      responses: { 202: json(ExecutionSchema, 'Accepted'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      const ctx = ctxOf(c);
      const { id } = c.req.valid('param');
      await replicationExecution(ctx.db, id);
      return c.json(executionView(await retryExecution(ctx, id)), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/replication/executions/{id}/tasks',
      tags,
      summary: "An execution's tasks in order, each with its outcome and failure reason",
      security: authRequired,
      request: {
        params: IdParam,
        query: z.object({
          status: z.enum(TASK_STATUSES).optional(),
          pageSize: z.coerce.number().int().min(1).max(1000).default(100),
          after: z.coerce.number().int().min(0).max(ROW_ID_MAX).optional().openapi({ description: 'Only tasks after this id (the last id of the previous page)' }),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(TaskSchema), total: z.number().int() }).openapi('ReplicationTaskList')), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      const { db } = c.var.deps;
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const execution = await replicationExecution(db, id);
      const items = await listTasks(db, id, { status: q.status, limit: q.pageSize, after: q.after });
      return c.json({ items: items.map(taskView), total: q.status ? execution[q.status] : execution.total }, 200);
    },
  );

  return app;
}
