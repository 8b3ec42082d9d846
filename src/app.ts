import { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { authenticate } from './api/common';
import { projectRoutes } from './api/projects';
import { systemRoutes } from './api/system';
import { userRoutes } from './api/users';
import { repositoryRoutes } from './api/repositories';
import { auditRoutes } from './api/audit';
import { sessionRoutes } from './api/session';
import type { Deps } from './deps';
import { AppError } from './errors';
import { RegistryError } from './registry/client';
import type { AppContext, AppEnv } from './http/env';
import { tokenRoutes } from './token/routes';
import { notificationRoutes } from './events/routes';
import { uiRoutes } from '../ui/routes';

const errorBody = (code: string, message: string) => ({ error: { code, message } });

function onError(err: Error, c: AppContext) {
  if (err instanceof AppError) return c.json(errorBody(err.code, err.message), err.status, err.headers);
  if (err instanceof RegistryError) {
    c.var.deps?.log.warn({ err: err.message, path: c.req.path }, 'registry call failed');
    return c.json(errorBody('registry_unavailable', 'the registry did not answer as expected; try again later'), 503);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413 ? 'payload_too_large' : status < 500 ? 'invalid_request' : 'internal';
    return c.json(errorBody(code, err.message || 'invalid request'), status);
  }
  c.var.deps?.log.error({ err: { message: err.message, stack: err.stack }, path: c.req.path }, 'unhandled error');
  return c.json(errorBody('internal', 'internal error'), 500);
}

/** Validation failures of any /api/v1 route: 400 with the first problem, named by its field. */
const validationHook = (result: { success: boolean; error?: unknown }, c: AppContext) => {
  if (result.success) return;
  const issues = (result.error as { issues?: { path: PropertyKey[]; message: string; code: string; keys?: string[] }[] }).issues ?? [];
  const first = issues[0];
  const where = first?.path.length ? `${first.path.map(String).join('.')}: ` : '';
  const message = first?.code === 'unrecognized_keys' ? `unknown field ${first.keys?.join(', ')}` : first?.message;
  return c.json(errorBody('invalid_request', `${where}${message ?? 'invalid input'}`), 400);
};

export function createApi() {
  const api = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  api.openAPIRegistry.registerComponent('securitySchemes', 'basicAuth', {
    type: 'http',
    scheme: 'basic',
    description: "A user's password or personal access token, or a robot's secret",
  });
  api.use(bodyLimit({ maxSize: 1024 * 1024, onError: () => { throw new AppError(413, 'payload_too_large', 'request body too large (max 1 MiB)', { Connection: 'close' }); } }));
  api.use(authenticate);
  api.route('/', systemRoutes());
  api.route('/', sessionRoutes());
  api.route('/', userRoutes());
  api.route('/', projectRoutes());
  api.route('/', repositoryRoutes());
  api.route('/', auditRoutes());
  return api;
}

export function openApiDocument(api: OpenAPIHono<AppEnv>) {
  return api.getOpenAPIDocument({
    openapi: '3.0.3',
    info: {
      title: 'Wharf API',
      version: '1',
      description: 'Users, projects, members, repositories, tags and audit of a Distribution registry managed by Wharf.',
    },
    servers: [{ url: '/api/v1' }],
  });
}

/** An app with the deps in context, JSON errors, and the registry's notification endpoint. */
function baseApp(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set('deps', deps);
    await next();
  });
  app.onError(onError);
  app.notFound((c) => c.json(errorBody('not_found', 'no such endpoint'), 404));
  app.route('/service/notifications', notificationRoutes());
  return app;
}

/** Only the registry's notification endpoint: what the loopback notification listener serves. */
export const createNotificationApp = (deps: Deps) => baseApp(deps);

/** `extend` adds routes before the web UI's catch-all (benchmarks, tests). */
export function createApp(deps: Deps, extend?: (app: Hono<AppEnv>) => void) {
  const app = baseApp(deps);
  app.route('/service/token', tokenRoutes());

  app.get('/metrics', async (c) => {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType });
  });

  const api = createApi();
  const document = openApiDocument(api);
  app.get('/api/v1/openapi.json', (c) => c.json(document));
  app.route('/api/v1', api);
  extend?.(app);
  app.route('/', uiRoutes());
  return app;
}
