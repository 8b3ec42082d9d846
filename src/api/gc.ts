import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { notFound } from '../errors';
import { GC_COMMAND, gcSchedule, getGcRun, listGcRuns, setGcScheduleOf, startGc } from '../storage/gc';
import { authRequired, json, jsonBody, pick, requireAdmin, ROW_ID_MAX } from './route-kit';

const UNTAGGED =
  'Delete untagged images first, through Wharf (audited, replicated like any delete): images without a tag, except children of a tagged index, ' +
  'accessories (signatures, SBOMs) of an image that stays, and images in projects whose retention policy keeps untagged images ' +
  '(a project without a retention policy is cleaned). Default false.';

const GcRunSchema = z
  .object({
    id: z.number().int(),
    status: z.enum(['pending', 'running', 'succeeded', 'failed']).openapi({ description: 'pending also while the read-only window waits for push tokens to expire' }),
    trigger: z.enum(['manual', 'event', 'cron', 'creation', 'schedule']),
    dryRun: z.boolean(),
    deleteUntagged: z.boolean(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    manifestsDeleted: z.number().int(),
    blobsDeleted: z.number().int(),
    bytesFreed: z.number().int().openapi({ description: 'Measured on disk (storage before minus after); a dry run: the eligible blobs’ sizes' }),
    error: z.string().nullable(),
  })
  .openapi('GcRun');

const GcRunDetailSchema = GcRunSchema.extend({ log: z.string().openapi({ description: 'The registry’s output (secrets removed; the last 256 KiB)' }) }).openapi('GcRunDetail');

const GcListSchema = z
  .object({
    supervised: z.boolean().openapi({ description: 'Whether this instance supervises the registry and can run its garbage collection' }),
    command: z.string().nullable().openapi({ description: 'When not supervised: the command to run on the registry’s host' }),
    items: z.array(GcRunSchema),
  })
  .openapi('GcRuns');

const StartSchema = z
  .object({
    dryRun: z.boolean().optional().openapi({ description: 'Report what would be deleted, delete nothing, no read-only window' }),
    deleteUntagged: z.boolean().optional().openapi({ description: UNTAGGED }),
  })
  .strict()
  .openapi('GcStart');

const ScheduleSchema = z
  .object({
    cron: z.string().max(200).nullable().openapi({ description: 'A cron expression (5 or 6 fields), or null for no schedule' }),
    deleteUntagged: z.boolean().optional().openapi({ description: 'Whether scheduled runs delete untagged images first (unchanged when left out)' }),
  })
  .strict()
  .openapi('GcScheduleInput');

const ScheduleView = z.object({ cron: z.string().nullable(), deleteUntagged: z.boolean() }).openapi('GcSchedule');

const IdParam = z.object({ id: z.coerce.number().int().min(1).max(ROW_ID_MAX).openapi({ param: { name: 'id', in: 'path' } }) });

export function gcRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/system/gc',
      tags: ['system'],
      summary: 'Start a garbage collection of the registry (system admins)',
      description:
        'A real run turns the read-only window on, waits for push tokens issued before it to expire, runs the registry’s garbage collection and ' +
        'turns the window off. 409 while a run has not finished, or when this instance does not supervise the registry (run `wharf gc` on its host).',
      security: authRequired,
      request: { body: jsonBody(StartSchema) },
      responses: { 202: json(GcRunSchema, 'Started'), ...pick(400, 401, 403, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      const body = c.req.valid('json');
      const run = await startGc(ctxOf(c), { dryRun: body.dryRun ?? false, deleteUntagged: body.deleteUntagged ?? false, trigger: 'manual' });
      return c.json(run, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/system/gc',
      tags: ['system'],
      summary: 'Garbage collection runs, newest first (system admins)',
      security: authRequired,
      responses: { 200: json(GcListSchema), ...pick(401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      const deps = c.var.deps;
      return c.json({ supervised: Boolean(deps.gcHost), command: deps.gcHost ? null : GC_COMMAND, items: await listGcRuns(deps.db) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/system/gc/schedule',
      tags: ['system'],
      summary: 'The garbage collection schedule (system admins)',
      security: authRequired,
      responses: { 200: json(ScheduleView), ...pick(401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await gcSchedule(c.var.deps.db), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/system/gc/schedule',
      tags: ['system'],
      summary: 'Set the garbage collection schedule (system admins); scheduled runs are real runs',
      security: authRequired,
      request: { body: jsonBody(ScheduleSchema) },
      responses: { 200: json(ScheduleView), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await setGcScheduleOf(ctxOf(c), c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/system/gc/{id}',
      tags: ['system'],
      summary: 'One garbage collection run with its log (system admins)',
      security: authRequired,
      request: { params: IdParam },
      responses: { 200: json(GcRunDetailSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      const { id } = c.req.valid('param');
      const run = await getGcRun(c.var.deps.db, id);
      if (!run) throw notFound('gc.notFound', { id });
      return c.json(run, 200);
    },
  );

  return app;
}
