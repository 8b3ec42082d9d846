import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { MAX_USERNAME_LENGTH } from '../identity/names';
import { ChangePasswordSchema, CreatePersonalTokenSchema, CreateUserSchema, UpdateUserSchema } from '../identity/schemas';
import { changePassword, createUser, deleteUser, listUsers, updateUser, userView, viewableUser } from '../identity/users';
import { createPersonalToken, deletePersonalToken, listPersonalTokens } from '../identity/personal-tokens';
import { authRequired, json, jsonBody, listOf, PageQuery, pick, requireAdmin, requireUser } from './route-kit';

export const UserSchema = z
  .object({
    username: z.string(),
    email: z.string().nullable(),
    admin: z.boolean(),
    disabled: z.boolean(),
    source: z.enum(['local', 'ldap', 'htpasswd']),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastLoginAt: z.string().nullable(),
  })
  .openapi('User');

const Username = z.object({ username: z.string().min(1).max(MAX_USERNAME_LENGTH).openapi({ example: 'alice' }) });

const tags = ['users'];

export function userRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users',
      tags,
      summary: 'Create a user (system admins)',
      security: authRequired,
      request: {
        body: jsonBody(CreateUserSchema),
      },
      responses: { 201: json(UserSchema, 'Created'), ...pick(400, 401, 403, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      const body = c.req.valid('json');
      const user = await createUser(ctxOf(c), body);
      return c.json(userView(user), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users',
      tags,
      summary: 'List users (system admins)',
      security: authRequired,
      request: { query: PageQuery.extend({ q: z.string().max(128).optional() }) },
      responses: { 200: json(listOf(UserSchema, 'UserList')), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireAdmin(c);
      const { items, total } = await listUsers(ctxOf(c), c.req.valid('query'));
      return c.json({ items: items.map(userView), total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users/{username}',
      tags,
      summary: 'Get a user (self or system admin)',
      security: authRequired,
      request: { params: Username },
      responses: { 200: json(UserSchema), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(userView(await viewableUser(ctxOf(c), c.req.valid('param').username)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/users/{username}',
      tags,
      summary: 'Update a user: admins change anything, users their own email',
      security: authRequired,
      request: {
        params: Username,
        body: jsonBody(UpdateUserSchema),
      },
      responses: { 200: json(UserSchema), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireUser(c);
      const user = await updateUser(ctxOf(c), c.req.valid('param').username, c.req.valid('json'));
      return c.json(userView(user), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/users/{username}',
      tags,
      summary: 'Delete a user (system admins)',
      security: authRequired,
      request: { params: Username },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404, 409) },
    }),
    async (c) => {
      requireAdmin(c);
      await deleteUser(ctxOf(c), c.req.valid('param').username);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/users/{username}/password',
      tags,
      summary: 'Change a password (self with the old one, or a system admin)',
      security: authRequired,
      request: {
        params: Username,
        body: jsonBody(ChangePasswordSchema),
      },
      responses: { 204: { description: 'Changed' }, ...pick(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      requireUser(c);
      const { username } = c.req.valid('param');
      await changePassword(ctxOf(c), username, c.req.valid('json'));
      return c.body(null, 204);
    },
  );

  const TokenSchema = z
    .object({ name: z.string(), expiresAt: z.string().nullable(), createdAt: z.string(), lastUsedAt: z.string().nullable() })
    .openapi('PersonalToken');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users/{username}/tokens',
      tags: ['tokens'],
      summary: 'Create a personal access token for yourself; the secret is shown once',
      security: authRequired,
      request: {
        params: Username,
        body: jsonBody(CreatePersonalTokenSchema),
      },
      responses: { 201: json(TokenSchema.extend({ secret: z.string() }).openapi('PersonalTokenCreated'), 'Created'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await createPersonalToken(ctxOf(c), c.req.valid('param').username, c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users/{username}/tokens',
      tags: ['tokens'],
      summary: 'Personal access tokens of a user, without secrets (self or system admin)',
      security: authRequired,
      request: { params: Username },
      responses: { 200: json(z.array(TokenSchema)), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await listPersonalTokens(ctxOf(c), c.req.valid('param').username), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/users/{username}/tokens/{name}',
      tags: ['tokens'],
      summary: 'Revoke a personal access token (self or system admin)',
      security: authRequired,
      request: { params: Username.extend({ name: z.string().min(1).max(64) }) },
      responses: { 204: { description: 'Revoked' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      const { username, name } = c.req.valid('param');
      requireUser(c);
      await deletePersonalToken(ctxOf(c), username, name);
      return c.body(null, 204);
    },
  );

  return app;
}
