import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listRepositories, listTags } from '../artifacts/list';
import type { AppEnv } from '../http/env';
import { json, listOf, PageQuery, pick, security } from './common';

const RepositorySchema = z
  .object({
    name: z.string(),
    project: z.string(),
    tagCount: z.number().int(),
    pullCount: z.number().int(),
    lastPushedAt: z.string().nullable(),
    lastPulledAt: z.string().nullable(),
  })
  .openapi('Repository');

const PlatformSchema = z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).openapi('Platform');

const TagSchema = z
  .object({
    name: z.string(),
    digest: z.string(),
    mediaType: z.string().nullable(),
    size: z.number().int().nullable().openapi({ description: 'Manifest, config and layers in bytes (all platforms for an index); null until read' }),
    platforms: z.array(PlatformSchema),
    pushedAt: z.string(),
    pushedBy: z.string().nullable(),
    pullCount: z.number().int(),
    lastPulledAt: z.string().nullable(),
  })
  .openapi('Tag');

export const RepositoryParam = z.object({
  repository: z.string().min(1).max(300).openapi({ description: 'Full repository name, each "/" written as %2F', example: 'team%2Fapp' }),
});

const tags = ['repositories'];

export function repositoryRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repositories',
      tags,
      summary: 'Repositories of the projects the caller can see, from Wharf’s tag state',
      security,
      request: { query: PageQuery.extend({ project: z.string().max(300).optional(), q: z.string().max(255).optional() }) },
      responses: { 200: json(listOf(RepositorySchema, 'RepositoryList')), ...pick(400, 401, 404) },
    }),
    (c) => c.json(listRepositories(c.var.deps.db, c.var.principal, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repositories/{repository}/tags',
      tags,
      summary: 'Tags of a repository with digest, size, platforms, pusher and pulls',
      security,
      request: { params: RepositoryParam, query: PageQuery.extend({ q: z.string().max(128).optional() }) },
      responses: { 200: json(listOf(TagSchema, 'TagList')), ...pick(400, 401, 404) },
    }),
    (c) => c.json(listTags(c.var.deps.db, c.var.principal, c.req.valid('param').repository, c.req.valid('query')) as never, 200),
  );

  return app;
}
