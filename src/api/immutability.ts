import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { getRules, IMMUTABILITY_RULES_MAX, setRules } from '../storage/immutability';
import { authRequired, json, jsonBody, pick, requireUser } from './route-kit';

const ImmutabilityRuleSchema = z
  .object({
    repositories: z.string().max(1024).openapi({ description: 'Glob of repository names within the project (`sub/app` for `team/sub/app`)', example: '**' }),
    tags: z.string().max(1024).openapi({ description: 'Glob of tags', example: 'release-*' }),
  })
  .strict()
  .openapi('ImmutabilityRule');

const ImmutabilitySchema = z
  .object({
    rules: z.array(ImmutabilityRuleSchema).max(1000).openapi({ description: `At most ${IMMUTABILITY_RULES_MAX} rules; a tag matching any rule cannot be deleted or moved` }),
  })
  .strict()
  .openapi('Immutability');

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });

const tags = ['storage'];

export function immutabilityRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/immutability',
      tags,
      summary: "The project's immutability rules (projectAdmin)",
      security: authRequired,
      request: { params: ProjectParam },
      responses: { 200: json(ImmutabilitySchema), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await getRules(ctxOf(c), c.req.valid('param').project), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/projects/{project}/immutability',
      tags,
      summary: 'Replace the immutability rules (projectAdmin): matching tags cannot be deleted, and a push that moves one is put back',
      security: authRequired,
      request: { params: ProjectParam, body: jsonBody(ImmutabilitySchema) },
      responses: { 200: json(ImmutabilitySchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await setRules(ctxOf(c), c.req.valid('param').project, c.req.valid('json')), 200);
    },
  );

  return app;
}
