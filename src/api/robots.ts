import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { REPOSITORY_ACTIONS } from '../access/roles';
import { CreateSystemRobotSchema, UpdateSystemRobotSchema } from '../access/schemas';
import { createSystemRobot, deleteSystemRobot, listSystemRobots, updateSystemRobot } from '../access/system-robots';
import { ctxOf, type AppEnv } from '../http/env';
import { authRequired, json, jsonBody, listOf, PageQuery, pageOfList, pick, requireAdmin } from './route-kit';

const SystemRobotSchema = z
  .object({
    name: z.string().openapi({ example: 'robot$replicator' }),
    permissions: z.array(z.enum(REPOSITORY_ACTIONS)),
    projects: z.union([z.literal('*'), z.array(z.string())]).openapi({ description: "'*' for every project, else the project names it acts on" }),
    createProjects: z.boolean(),
    disabled: z.boolean(),
    expiresAt: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
  })
  .openapi('SystemRobot');
const SystemRobotCreatedSchema = SystemRobotSchema.extend({ secret: z.string().openapi({ description: 'Shown once' }) }).openapi('SystemRobotCreated');

const RobotParam = z.object({ name: z.string().min(1).max(80).openapi({ example: 'replicator' }) });

const tags = ['robots'];

/** /api/v1/robots: robots of the whole system, not of one project (system admins). */
export function systemRobotRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/robots',
      tags,
      summary: 'Create a system robot (system admins); the secret is shown once',
      security: authRequired,
      request: { body: jsonBody(CreateSystemRobotSchema) },
      responses: { 201: json(SystemRobotCreatedSchema, 'Created'), ...pick(400, 401, 403, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await createSystemRobot(ctxOf(c), c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/robots',
      tags,
      summary: 'System robots, without secrets (system admins)',
      security: authRequired,
      request: { query: PageQuery },
      responses: { 200: json(listOf(SystemRobotSchema, 'SystemRobotList')), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(pageOfList(await listSystemRobots(ctxOf(c)), c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/robots/{name}',
      tags,
      summary: 'Disable or enable a system robot, or change its projects or permissions (system admins)',
      security: authRequired,
      request: { params: RobotParam, body: jsonBody(UpdateSystemRobotSchema) },
      responses: { 200: json(SystemRobotSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await updateSystemRobot(ctxOf(c), c.req.valid('param').name, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/robots/{name}',
      tags,
      summary: 'Delete a system robot (system admins)',
      security: authRequired,
      request: { params: RobotParam },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      await deleteSystemRobot(ctxOf(c), c.req.valid('param').name);
      return c.body(null, 204);
    },
  );

  return app;
}
