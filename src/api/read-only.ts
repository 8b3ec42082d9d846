import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { getReadOnly, READ_ONLY_REASON_MAX, setReadOnly } from '../storage/read-only';
import { authRequired, json, jsonBody, pick, requireAdmin } from './route-kit';

const ReadOnlySchema = z
  .object({
    readOnly: z.boolean().openapi({ description: 'On while an admin turned it on or a garbage collection run holds it' }),
    since: z.string().nullable(),
    reason: z.string().nullable().openapi({ description: 'Shown to clients whose push is refused' }),
    by: z.string().nullable().openapi({ description: 'The admin who turned it on' }),
    gc: z.object({ executionId: z.number().int(), since: z.string().nullable() }).nullable().openapi({ description: 'The garbage collection run holding the window' }),
  })
  .openapi('ReadOnly');

const SetReadOnlySchema = z
  .object({
    readOnly: z.boolean(),
    reason: z.string().max(READ_ONLY_REASON_MAX * 4).nullable().optional().openapi({ description: `At most ${READ_ONLY_REASON_MAX} printable characters`, example: 'disk migration' }),
  })
  .strict()
  .openapi('ReadOnlySet');

const tags = ['system'];

/** /api/v1/system/read-only: the read-only window (system admins). */
export function readOnlyRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/system/read-only',
      tags,
      summary: 'The read-only window (system admins)',
      security: authRequired,
      responses: { 200: json(ReadOnlySchema), ...pick(401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await getReadOnly(ctxOf(c)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/system/read-only',
      tags,
      summary: 'Turn the read-only window on (with a reason) or off (system admins); off leaves a garbage collection run its hold',
      security: authRequired,
      request: { body: jsonBody(SetReadOnlySchema) },
      responses: { 200: json(ReadOnlySchema), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await setReadOnly(ctxOf(c), c.req.valid('json')), 200);
    },
  );

  return app;
}
