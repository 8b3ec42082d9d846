import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { AppEnv } from '../http/env';
import { authRequired, json, pick, requireAdmin, requireUser } from './common';
import { recordAudit } from '../audit/record';
import { actorOf } from '../http/env';

const HealthSchema = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']).openapi({ description: 'degraded: only the directory is unreachable (200)' }),
    database: z.enum(['ok', 'error']),
    registry: z.enum(['ok', 'unreachable']),
    ldap: z.enum(['ok', 'degraded', 'disabled']),
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
      const { db, registryHealth, directory } = c.var.deps;
      let database: 'ok' | 'error' = 'ok';
      try {
        db.get(sql`select 1`);
      } catch {
        database = 'error';
      }
      const [registryUp, ldapUp] = await Promise.all([registryHealth(), directory.ping()]);
      const registry = registryUp ? 'ok' : 'unreachable';
      const ldap = !directory.enabled ? 'disabled' : ldapUp ? 'ok' : 'degraded';
      const healthy = database === 'ok' && registry === 'ok';
      const status = !healthy ? 'unhealthy' : ldap === 'degraded' ? 'degraded' : 'healthy';
      return c.json({ status, database, registry, ldap } as const, healthy ? 200 : 503);
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
    (c) => {
      requireAdmin(c);
      const { reconciler, db, log } = c.var.deps;
      const actor = actorOf(c);
      recordAudit(db, { username: actor.username, action: 'reconcile', resourceType: 'system', resource: 'tag-state', sourceIp: actor.ip });
      reconciler.run().catch((err: Error) => log.warn({ err: err.message }, 'reconcile failed'));
      return c.json({ status: 'started' as const }, 202);
    },
  );

  return app;
}
