import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { BANDWIDTH_KBPS_MAX, CONCURRENCY_MAX, createPolicy, deletePolicy, getPolicy, listPolicies, POLICY_NAME_MAX, previewPolicy, updatePolicy } from '../replication/policies';
import { GLOB_MAX } from '../replication/filters';
import { authRequired, errorResponses, json, jsonBody, listOf, PageQuery, pick, requireAdmin } from './route-kit';

const tags = ['replication'];

const Globs = z.array(z.string().max(GLOB_MAX)).max(100);
const FiltersSchema = z
  .object({ repositories: Globs.optional(), excludeRepositories: Globs.optional(), tags: Globs.optional(), excludeTags: Globs.optional() })
  .strict()
  .openapi('ReplicationFilters', { description: 'Globs (API.md "Names and globs"); excludes apply after includes, an empty include list means all' });
const TriggerSchema = z
  .object({ type: z.enum(['manual', 'event', 'cron']), cron: z.string().max(256).nullable().optional().openapi({ example: '0 3 * * *' }) })
  .strict()
  .openapi('ReplicationTrigger');

/** The fields a policy holds besides its name and direction; what PATCH may change. */
const policyFields = {
  registry: z.string().min(1).max(POLICY_NAME_MAX).openapi({ example: 'backup-site' }),
  project: z.string().min(1).max(300).openapi({ example: 'team' }),
  filters: FiltersSchema.optional(),
  destination: z.string().max(300).nullable().optional().openapi({ description: 'Push only: the namespace at the target (default: the project name)' }),
  override: z.boolean().optional().openapi({ description: 'Default true; false leaves a tag the target holds on another digest alone' }),
  deletions: z.boolean().optional().openapi({ description: 'Push only: replicate deletions' }),
  trigger: TriggerSchema,
  replicateExisting: z.boolean().optional().openapi({ description: 'Default true: a first run copies what exists at creation' }),
  enabled: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(CONCURRENCY_MAX).optional().openapi({ description: 'Tasks run at once (default 4)' }),
  bandwidthKBps: z.number().int().positive().max(BANDWIDTH_KBPS_MAX).nullable().optional().openapi({ description: 'Per-policy limit in KB/s; null for none' }),
  description: z.string().max(1000).nullable().optional(),
};
const direction = z.enum(['push', 'pull']);

const CreatePolicySchema = z.object({ name: z.string().min(1).max(POLICY_NAME_MAX), direction, ...policyFields }).strict().openapi('ReplicationPolicyInput');
const UpdatePolicySchema = z
  .object({ name: z.string().optional(), direction: direction.optional(), ...policyFields, trigger: TriggerSchema.optional(), registry: policyFields.registry.optional(), project: policyFields.project.optional() })
  .strict()
  .openapi('ReplicationPolicyPatch', { description: 'Any field but name and direction (giving them unchanged is allowed)' });
const PreviewPolicySchema = CreatePolicySchema.extend({ name: z.string().max(POLICY_NAME_MAX).optional() }).openapi('ReplicationPolicyPreviewInput');

const PolicySchema = z
  .object({
    name: z.string(),
    direction,
    registry: z.string(),
    project: z.string(),
    filters: z.object({ repositories: z.array(z.string()), excludeRepositories: z.array(z.string()), tags: z.array(z.string()), excludeTags: z.array(z.string()) }),
    destination: z.string().nullable(),
    override: z.boolean(),
    deletions: z.boolean(),
    trigger: z.object({ type: z.enum(['manual', 'event', 'cron']), cron: z.string().nullable() }),
    replicateExisting: z.boolean(),
    enabled: z.boolean(),
    concurrency: z.number().int(),
    bandwidthKBps: z.number().int().nullable(),
    description: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string().nullable(),
  })
  .openapi('ReplicationPolicy');

const PlannedTaskSchema = z
  .object({ operation: z.enum(['copy', 'delete']), repository: z.string(), tag: z.string(), digest: z.string().nullable(), destination: z.string() })
  .openapi('PlannedTask');
const PreviewSchema = z
  .object({ items: z.array(PlannedTaskSchema).openapi({ description: 'The first 100 tasks' }), total: z.number().int() })
  .openapi('ReplicationPolicyPreview');

const NameParam = z.object({ name: z.string().min(1).max(POLICY_NAME_MAX).openapi({ example: 'to-backup' }) });
const unprocessable = { 422: { description: 'A pull policy with an event trigger; a registry that cannot be listed', content: errorResponses[400].content } };

export function replicationRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/replication/policies',
      tags,
      summary: 'Create a replication policy (system admins)',
      security: authRequired,
      request: { body: jsonBody(CreatePolicySchema) },
      responses: { 201: json(PolicySchema, 'Created'), ...pick(400, 401, 403, 404, 409), ...unprocessable },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await createPolicy(ctxOf(c), c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/replication/policies/preview',
      tags,
      summary: 'The tasks a policy with these fields would plan now (first 100 and the total); nothing is stored',
      security: authRequired,
      request: { body: jsonBody(PreviewPolicySchema) },
      responses: { 200: json(PreviewSchema), ...pick(400, 401, 403, 404), ...unprocessable },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await previewPolicy(ctxOf(c), c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/replication/policies',
      tags,
      summary: 'Replication policies (system admins)',
      security: authRequired,
      request: { query: PageQuery },
      responses: { 200: json(listOf(PolicySchema, 'ReplicationPolicyList')), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await listPolicies(ctxOf(c), c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/replication/policies/{name}',
      tags,
      summary: 'Get a replication policy',
      security: authRequired,
      request: { params: NameParam },
      responses: { 200: json(PolicySchema), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await getPolicy(ctxOf(c), c.req.valid('param').name), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/replication/policies/{name}',
      tags,
      summary: 'Change a replication policy (any field but name and direction)',
      security: authRequired,
      request: { params: NameParam, body: jsonBody(UpdatePolicySchema) },
      responses: { 200: json(PolicySchema), ...pick(400, 401, 403, 404), ...unprocessable },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await updatePolicy(ctxOf(c), c.req.valid('param').name, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/replication/policies/{name}',
      tags,
      summary: 'Delete a replication policy',
      security: authRequired,
      request: { params: NameParam },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      await deletePolicy(ctxOf(c), c.req.valid('param').name);
      return c.body(null, 204);
    },
  );

  return app;
}
