import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { getQuota, setQuota } from '../storage/quota';
import { authRequired, json, jsonBody, pick, requireAdmin, security } from './route-kit';

const QuotaSchema = z
  .object({
    limitBytes: z.number().int().nullable().openapi({ description: 'null: no limit' }),
    usedBytes: z.number().int().openapi({ description: 'Each blob the project keeps counted once, as last recomputed' }),
  })
  .openapi('Quota');

// The service checks the range and wholeness itself (400 quota.badLimit).
const SetQuotaSchema = z
  .object({ limitBytes: z.number().nullable().openapi({ description: 'Bytes, a whole number from 1 to 2^53-1; null: no limit', example: 10_737_418_240 }) })
  .strict()
  .openapi('QuotaSet');

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });

const tags = ['projects'];

/** /api/v1/projects/{project}/quota: a project's storage limit and usage. */
export function quotaRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/quota',
      tags,
      summary: "A project's storage quota and usage (its members and system admins)",
      security,
      request: { params: ProjectParam },
      responses: { 200: json(QuotaSchema), ...pick(401, 403, 404) },
    }),
    async (c) => c.json(await getQuota(ctxOf(c), c.req.valid('param').project), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/projects/{project}/quota',
      tags,
      summary: "Set or clear (null) a project's storage quota (system admins); over it, pushes are refused with the reason",
      security: authRequired,
      request: { params: ProjectParam, body: jsonBody(SetQuotaSchema) },
      responses: { 200: json(QuotaSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await setQuota(ctxOf(c), c.req.valid('param').project, c.req.valid('json')), 200);
    },
  );

  return app;
}
