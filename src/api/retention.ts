import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { GLOB_MAX } from '../replication/filters';
import { KEEP_KINDS } from '../storage/retention-plan';
import {
  getRetention,
  getRetentionExecution,
  listRetentionExecutions,
  RETENTION_COUNT_MAX,
  RETENTION_DAYS_MAX,
  RETENTION_RULES_MAX,
  setRetention,
  startRetention,
} from '../storage/retention';
import { authRequired, json, jsonBody, pick, requireUser, ROW_ID_MAX } from './route-kit';

const tags = ['retention'];

const RuleSchema = z
  .object({
    repositories: z.string().max(GLOB_MAX).openapi({ description: 'Glob over the repository name within the project', example: '**' }),
    tags: z.string().max(GLOB_MAX).openapi({ example: '*' }),
    keep: z.enum(KEEP_KINDS),
    n: z
      .number()
      .nullable()
      .optional()
      .openapi({ description: `A count of tags (latestPushed, latestPulled: 1..${RETENTION_COUNT_MAX}) or days (pushedWithinDays, pulledWithinDays: 1..${RETENTION_DAYS_MAX}); not for always` }),
  })
  .strict()
  .openapi('RetentionRule');

const PolicyInputSchema = z
  .object({
    rules: z.array(RuleSchema).max(RETENTION_RULES_MAX).openapi({ description: `At most ${RETENTION_RULES_MAX}; [] (without a cron) clears the policy` }),
    untagged: z.enum(['keep', 'delete']).optional().openapi({ description: 'Default keep: deployments pin digests' }),
    cron: z.string().max(256).nullable().optional().openapi({ description: 'When to run by itself (cron expression); null: only when asked', example: '0 4 * * *' }),
  })
  .strict()
  .openapi('RetentionPolicyInput');

const PolicySchema = z
  .object({
    rules: z.array(RuleSchema),
    untagged: z.enum(['keep', 'delete']),
    cron: z.string().nullable(),
    updatedAt: z.string().nullable(),
    updatedBy: z.string().nullable(),
  })
  .openapi('RetentionPolicy');

const TagRef = z.object({ repository: z.string(), tag: z.string(), digest: z.string() }).openapi('RetentionTag');
const ImageRef = z.object({ repository: z.string(), digest: z.string() }).openapi('RetentionImage');

const ExecutionSchema = z
  .object({
    id: z.number().int(),
    status: z.enum(['pending', 'running', 'succeeded', 'failed']),
    trigger: z.enum(['manual', 'event', 'cron', 'creation', 'schedule']),
    dryRun: z.boolean(),
    deletedCount: z.number().int(),
    deleted: z.array(TagRef).openapi({ description: 'Tags deleted (a dry run: the tags a real run would delete now)' }),
    deletedUntagged: z.array(ImageRef).openapi({ description: 'Untagged images deleted (untagged: delete)' }),
    skipped: z
      .array(z.object({ repository: z.string(), tag: z.string().nullable(), digest: z.string(), reason: z.string() }))
      .openapi({ description: 'Planned deletions that did not happen: gone, immutable, in_index' }),
    skippedImmutable: z.array(TagRef).openapi({ description: 'Tags the rules would delete that immutability rules keep' }),
    kept: z.number().int().openapi({ description: 'Tags that stay in the repositories the policy touches' }),
    bytesReclaimable: z.number().int().openapi({ description: 'Bytes of the blobs only deleted images held: freed once GC runs' }),
    error: z.string().nullable(),
    createdBy: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('RetentionExecution');

const ListSchema = z
  .object({ items: z.array(ExecutionSchema.omit({ deleted: true, deletedUntagged: true, skipped: true, skippedImmutable: true })) })
  .openapi('RetentionExecutionList', { description: 'Newest first; the lists are in each execution' });

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });
const ExecutionParam = ProjectParam.extend({ id: z.coerce.number().int().min(1).max(ROW_ID_MAX) });
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).max(ROW_ID_MAX).optional().openapi({ description: 'An execution id: older ones only (paging)' }),
});
const StartSchema = z.object({ dryRun: z.boolean().optional() }).strict().openapi('RetentionRunInput');

export function retentionRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/retention',
      tags,
      summary: "A project's retention policy (projectAdmin or system admin)",
      security: authRequired,
      request: { params: ProjectParam },
      responses: { 200: json(PolicySchema), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await getRetention(ctxOf(c), c.req.valid('param').project), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/projects/{project}/retention',
      tags,
      summary: "Replace a project's retention policy; rules [] without a cron clears it (projectAdmin or system admin)",
      security: authRequired,
      request: { params: ProjectParam, body: jsonBody(PolicyInputSchema) },
      responses: { 200: json(PolicySchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await setRetention(ctxOf(c), c.req.valid('param').project, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/projects/{project}/retention/executions',
      tags,
      summary: "Run a project's retention policy now (dryRun: only list what it would delete)",
      security: authRequired,
      request: { params: ProjectParam, body: { required: false, content: { 'application/json': { schema: StartSchema } } } },
      responses: { 202: json(ExecutionSchema, 'Started'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireUser(c);
      const body = (c.req.header('content-type') ?? '').includes('json') ? c.req.valid('json') : {};
      return c.json(await startRetention(ctxOf(c), c.req.valid('param').project, { dryRun: body.dryRun ?? false }), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/retention/executions',
      tags,
      summary: "A project's retention runs, newest first",
      security: authRequired,
      request: { params: ProjectParam, query: ListQuery },
      responses: { 200: json(ListSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      const q = c.req.valid('query');
      const items = await listRetentionExecutions(ctxOf(c), c.req.valid('param').project, { limit: q.limit, ...(q.before ? { before: q.before } : {}) });
      return c.json({ items: items.map(({ deleted: _d, deletedUntagged: _u, skipped: _s, skippedImmutable: _i, ...rest }) => rest) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/retention/executions/{id}',
      tags,
      summary: 'One retention run with every tag it deleted',
      security: authRequired,
      request: { params: ExecutionParam },
      responses: { 200: json(ExecutionSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      const { project, id } = c.req.valid('param');
      return c.json(await getRetentionExecution(ctxOf(c), project, id), 200);
    },
  );

  return app;
}
