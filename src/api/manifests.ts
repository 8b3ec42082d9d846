import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { imageDetails } from '../artifacts/manifest-view';
import { isValidRepositoryName } from '../access/roles';
import { REGISTRY_DIGEST_RE } from '../events/envelope';
import { badRequest } from '../errors';
import { ctxOf, type AppEnv } from '../http/env';
import { RepositoryParam } from './repositories';
import { json, pick, security } from './route-kit';

const Platform = z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() });

const ImageSchema = z
  .object({
    digest: z.string(),
    mediaType: z.string(),
    size: z.number().int().nullable().openapi({ description: 'Manifest, config and layers in bytes (all platforms for an index)' }),
    config: z
      .object({
        os: z.string().nullable(),
        architecture: z.string().nullable(),
        variant: z.string().optional(),
        created: z.string().nullable(),
        entrypoint: z.array(z.string()).nullable(),
        cmd: z.array(z.string()).nullable(),
        env: z.array(z.string()).openapi({ description: 'The image config’s environment (public to whoever can pull the image)' }),
        labels: z.record(z.string(), z.string()),
        exposedPorts: z.array(z.string()),
      })
      .nullable()
      .openapi({ description: 'null for an index, an artifact whose config is not JSON, or a config over 1 MiB' }),
    layers: z.array(z.object({ digest: z.string(), size: z.number().int(), mediaType: z.string().nullable() })),
    history: z.array(z.object({ created: z.string().nullable(), createdBy: z.string().nullable(), emptyLayer: z.boolean() })),
    platforms: z.array(Platform),
    children: z.array(z.object({ digest: z.string(), platform: Platform.nullable(), size: z.number().int().nullable() })),
    accessories: z.array(
      z.object({ kind: z.enum(['signature', 'attestation', 'sbom', 'other']), tag: z.string().optional(), digest: z.string() }),
    ).openapi({ description: 'Signatures, attestations and SBOMs of this image: tagged sha256-<hex>.sig|.att|.sbom, or naming it as their OCI subject' }),
    tags: z.array(z.string()),
  })
  .openapi('Image');

const DigestParam = RepositoryParam.extend({ digest: z.string().max(200).regex(REGISTRY_DIGEST_RE, 'expected sha256:<64 hex> or sha512:<128 hex>') });

export function manifestRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/repositories/{repository}/manifests/{digest}',
      tags: ['repositories'],
      summary: 'What an image is made of: config, layers, history, platforms, accessories and tags, read from the registry',
      security,
      request: { params: DigestParam },
      responses: { 200: json(ImageSchema), ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { repository, digest } = c.req.valid('param');
      if (!isValidRepositoryName(repository)) throw badRequest('repository.badName');
      return c.json(await imageDetails(ctxOf(c), repository, digest), 200);
    },
  );
  return app;
}
