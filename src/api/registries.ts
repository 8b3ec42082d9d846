import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import {
  createRegistry,
  deleteRegistry,
  getRegistry,
  listRegistries,
  pingRegistry,
  REGISTRY_CA_MAX,
  REGISTRY_KINDS,
  REGISTRY_PASSWORD_MAX,
  REGISTRY_USERNAME_MAX,
  updateRegistry,
} from '../replication/registries';
import { authRequired, json, jsonBody, listOf, PageQuery, pageOfList, pick, requireAdmin } from './route-kit';

const RegistrySchema = z
  .object({
    name: z.string(),
    url: z.string(),
    kind: z.enum(REGISTRY_KINDS),
    username: z.string().nullable(),
    hasPassword: z.boolean().openapi({ description: 'Whether a password is stored; the password itself is never answered' }),
    insecure: z.boolean(),
    caPem: z.string().nullable(),
    description: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string().nullable(),
  })
  .openapi('Registry');

const fields = {
  url: z.string().min(1).max(2048).openapi({ example: 'https://registry.example.org' }),
  kind: z.enum(REGISTRY_KINDS),
  username: z.string().max(REGISTRY_USERNAME_MAX).nullable().optional(),
  password: z.string().max(REGISTRY_PASSWORD_MAX).nullable().optional().openapi({ description: 'Stored sealed; an empty string clears it' }),
  caPem: z.string().max(REGISTRY_CA_MAX).nullable().optional().openapi({ description: 'PEM certificates to verify the registry with' }),
  insecure: z.boolean().optional().openapi({ description: 'Skip TLS verification (self-signed certificates)' }),
  description: z.string().max(1024).nullable().optional(),
};

const CreateRegistrySchema = z
  .object({ name: z.string().min(1).max(128).openapi({ example: 'backup-site' }), ...fields })
  .strict()
  .openapi('RegistryCreate');

const UpdateRegistrySchema = z
  .object({ ...fields, url: fields.url.optional(), kind: fields.kind.optional() })
  .strict()
  .openapi('RegistryUpdate');

const PingSchema = z
  .object({ ok: z.boolean(), auth: z.enum(['none', 'basic', 'bearer']), error: z.string().optional() })
  .openapi('RegistryPing');

const NameParam = z.object({ name: z.string().min(1).max(128).openapi({ example: 'backup-site' }) });

const tags = ['replication'];

/** /api/v1/registries: the remote registries replication copies to and from (system admins). */
export function registryRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/registries',
      tags,
      summary: 'Add a registry (system admins); the password is stored sealed and never answered',
      security: authRequired,
      request: { body: jsonBody(CreateRegistrySchema) },
      responses: { 201: json(RegistrySchema, 'Created'), ...pick(400, 401, 403, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await createRegistry(ctxOf(c), c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/registries',
      tags,
      summary: 'Registries (system admins)',
      security: authRequired,
      request: { query: PageQuery },
      responses: { 200: json(listOf(RegistrySchema, 'RegistryList')), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(pageOfList(await listRegistries(ctxOf(c)), c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/registries/{name}',
      tags,
      summary: 'Get a registry (system admins)',
      security: authRequired,
      request: { params: NameParam },
      responses: { 200: json(RegistrySchema), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await getRegistry(ctxOf(c), c.req.valid('param').name), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/registries/{name}',
      tags,
      summary: 'Change a registry, all but its name (system admins)',
      security: authRequired,
      request: { params: NameParam, body: jsonBody(UpdateRegistrySchema) },
      responses: { 200: json(RegistrySchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await updateRegistry(ctxOf(c), c.req.valid('param').name, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/registries/{name}',
      tags,
      summary: 'Delete a registry no policy uses (system admins)',
      security: authRequired,
      request: { params: NameParam },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      await deleteRegistry(ctxOf(c), c.req.valid('param').name);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/registries/{name}/ping',
      tags,
      summary: 'Whether the registry answers and accepts the stored credentials, and which authentication it asks for',
      security: authRequired,
      // No body is needed; an empty object is accepted for clients that always send one.
      request: { params: NameParam, body: { required: false, content: { 'application/json': { schema: z.object({}).strict() } } } },
      responses: { 200: json(PingSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(await pingRegistry(ctxOf(c), c.req.valid('param').name), 200);
    },
  );

  return app;
}
