import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listRepositories, listTags } from '../artifacts/list';
import { deleteImage, deleteRepository, deleteTag} from '../artifacts/delete';
import { REGISTRY_DIGEST_RE, TAG_RE } from '../events/envelope';
import { ctxOf } from '../http/env';
import { isValidRepositoryName } from '../access/roles';
import { badRequest } from '../errors';
import type { AppEnv } from '../http/env';
import { authRequired, json, listOf, PageQuery, pick, security } from './route-kit';

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

function validRepository(name: string): string {
  if (!isValidRepositoryName(name)) throw badRequest('repository.badName');
  return name;
}

const TagParam = RepositoryParam.extend({ tag: z.string().min(1).max(128).regex(TAG_RE, 'invalid tag') });
const DigestParam = RepositoryParam.extend({ digest: z.string().max(200).regex(REGISTRY_DIGEST_RE, 'expected sha256:<64 hex> or sha512:<128 hex>') });

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
    async (c) => c.json(await listRepositories(ctxOf(c), c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repositories/{repository}/tags',
      tags,
      summary: 'Tags of a repository with digest, size, platforms, pusher and pulls',
      security,
      request: {
        params: RepositoryParam,
        query: PageQuery.extend({
          q: z.string().max(128).optional(),
          accessories: z.enum(['true', 'false']).optional().openapi({ description: 'Also list accessory tags (sha256-<hex>.sig|.att|.sbom); the repository’s tagCount counts them' }),
        }),
      },
      responses: { 200: json(listOf(TagSchema, 'TagList')), ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { accessories, ...query } = c.req.valid('query');
      return c.json(await listTags(ctxOf(c), c.req.valid('param').repository, { ...query, accessories: accessories === 'true' }) as never, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repositories/{repository}/tags/{tag}',
      tags,
      summary: 'Delete one tag; other tags on the same image stay (developer, projectAdmin, robot with delete)',
      security: authRequired,
      request: { params: TagParam },
      responses: { 204: { description: 'Deleted' }, ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { repository, tag } = c.req.valid('param');
      await deleteTag(ctxOf(c), validRepository(repository), tag);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repositories/{repository}/manifests/{digest}',
      tags,
      summary: 'Delete an image and every tag on it; 409 while a tagged index lists it, unless force=true',
      security: authRequired,
      request: { params: DigestParam, query: z.object({ force: z.enum(['true', 'false']).optional() }) },
      responses: { 204: { description: 'Deleted' }, ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { repository, digest } = c.req.valid('param');
      const force = c.req.valid('query').force === 'true';
      await deleteImage(ctxOf(c), validRepository(repository), digest, { force });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repositories/{repository}',
      tags,
      summary: 'Delete every image of a repository',
      security: authRequired,
      request: { params: RepositoryParam },
      responses: { 204: { description: 'Deleted' }, ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { repository } = c.req.valid('param');
      await deleteRepository(ctxOf(c), validRepository(repository));
      return c.body(null, 204);
    },
  );

  return app;
}
