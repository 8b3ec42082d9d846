import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { startReconcile } from '../artifacts/reconcile';
import { checkHealth } from '../health';
import { ctxOf, type AppEnv } from '../http/env';
import { authRequired, json, pick, requireAdmin, requireUser } from './route-kit';

const HealthSchema = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']).openapi({ description: 'degraded: only the directory is unreachable (200)' }),
    database: z.enum(['ok', 'error']),
    registry: z.enum(['ok', 'unreachable']),
    ldap: z.enum(['ok', 'degraded', 'disabled']),
    scheduler: z.enum(['leader', 'standby']).openapi({ description: 'leader: this instance runs the periodic jobs (one instance on the database is elected)' }),
  })
  .openapi('Health');

const MeSchema = z.object({ username: z.string(), admin: z.boolean(), source: z.string() }).openapi('Me');

export function systemRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      tags: ['system'],
      summary: 'Health of Wharf, its database and the registry',
      security: [],
      responses: { 200: json(HealthSchema, 'Healthy'), 503: json(HealthSchema, 'Unhealthy') },
    }),
    async (c) => {
      const health = await checkHealth(c.var.deps);
      return c.json(health, health.status === 'unhealthy' ? 503 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      tags: ['system'],
      summary: 'The authenticated caller',
      security: authRequired,
      responses: { 200: json(MeSchema), ...pick(401) },
    }),
    (c) => {
      const me = requireUser(c);
      return c.json({ username: me.username, admin: me.admin, source: me.source }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/system/reconcile',
      tags: ['system'],
      summary: 'Re-read the registry into the tag state (system admins); runs in the background',
      security: authRequired,
      responses: { 202: json(z.object({ status: z.literal('started') }), 'Started'), ...pick(401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      await startReconcile(ctxOf(c));
      return c.json({ status: 'started' as const }, 202);
    },
  );

  return app;
}
