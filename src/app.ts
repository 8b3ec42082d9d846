import { OpenAPIHono } from '@hono/zod-openapi';
import { gcRoutes } from './api/gc';
import { Hono, type MiddlewareHandler } from 'hono';
import { limitBody } from './http/limits';
import { resolveCaller, basicPrincipal } from './api/route-kit';
import { projectRoutes } from './api/projects';
import { systemRoutes } from './api/system';
import { userRoutes } from './api/users';
import { repositoryRoutes } from './api/repositories';
import { manifestRoutes } from './api/manifests';
import { auditRoutes } from './api/audit';
import { replicationRoutes } from './api/replication';
import { retentionRoutes } from './api/retention';
import { webhookRoutes } from './api/webhooks';
import { replicationExecutionRoutes } from './api/replication-executions';
import { sessionRoutes } from './api/session';
import { registryRoutes } from './api/registries';
import { systemRobotRoutes } from './api/robots';
import { immutabilityRoutes } from './api/immutability';
import { readOnlyRoutes } from './api/read-only';
import { quotaRoutes } from './api/quota';
import type { Deps } from './deps';
import { AppError, unauthorized } from './errors';
import { assertSystemAdmin } from './identity/principal';
import { bearerMatches } from './http/bearer';
import { sameOriginWrites } from './http/csrf';
import { answerError } from './http/error-answer';
import type { AppContext, AppEnv } from './http/env';
import { tokenRoutes } from './token/routes';
import { notificationRoutes } from './events/routes';
import { isUiPath } from '../ui/paths';

const errorBody = (code: string, message: string) => ({ error: { code, message } });

function onError(err: Error, c: AppContext) {
  const answer = answerError(err, c);
  return c.json(errorBody(answer.code, answer.message), answer.status, answer.headers);
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
  api.use(...limitBody(1024 * 1024, (headers) => new AppError(413, 'payload_too_large', 'request body too large (max 1 MiB)', headers)));
  api.use(sameOriginWrites);
  api.use(async (c, next) => {
    await next();
    // Answers may carry secrets shown once (robot, token) or private listings: never cached.
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });
  api.use(resolveCaller);
  api.route('/', systemRoutes());
  api.route('/', sessionRoutes());
  api.route('/', userRoutes());
  api.route('/', projectRoutes());
  api.route('/', repositoryRoutes());
  api.route('/', manifestRoutes());
  api.route('/', auditRoutes());
  api.route('/', registryRoutes());
  api.route('/', systemRobotRoutes());
  api.route('/', replicationRoutes());
  api.route('/', replicationExecutionRoutes());
  api.route('/', gcRoutes());
  api.route('/', immutabilityRoutes());
  api.route('/', retentionRoutes());
  api.route('/', webhookRoutes());
  api.route('/', readOnlyRoutes());
  api.route('/', quotaRoutes());
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

/**
 * Who may read /metrics: Prometheus with `Authorization: Bearer <metrics.token>` (when one is
 * configured), or a system admin with Basic credentials. The counters say who uses the registry
 * how much, so anonymous callers get 401 and other users 403.
 */
const metricsAccess: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('authorization');
  if (/^bearer /i.test(header ?? '')) {
    if (bearerMatches(header, c.var.deps.config.metrics.token)) return next();
    throw new AppError(401, 'unauthorized', 'wrong metrics token', { 'WWW-Authenticate': 'Bearer realm="wharf-metrics"' });
  }
  const principal = await basicPrincipal(c);
  if (!principal) throw unauthorized();
  assertSystemAdmin(principal);
  return next();
};

/** An app with the deps in context and JSON errors. */
function contextApp(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set('deps', deps);
    await next();
  });
  app.onError(onError);
  app.notFound((c) => c.json(errorBody('not_found', 'no such endpoint'), 404));
  return app;
}

/** An app with the deps in context, JSON errors, and the registry's notification endpoint. */
function baseApp(deps: Deps) {
  const app = contextApp(deps);
  app.route('/service/notifications', notificationRoutes());
  return app;
}

/**
 * The web UI, loaded on the first page request: an instance that serves only registries and
 * scripts never holds its pages and locales in memory. It answers as if mounted with app.route().
 */
function lazyUi(deps: Deps): MiddlewareHandler<AppEnv> {
  let ui: Promise<Hono<AppEnv>> | undefined;
  return async (c, next) => {
    if (!isUiPath(c.req.path)) return next();
    ui ??= import('../ui/routes/index').then(({ uiRoutes }) => contextApp(deps).route('/', uiRoutes()));
    return (await ui).fetch(c.req.raw, c.env);
  };
}

/** Only the registry's notification endpoint: what the loopback notification listener serves. */
export const createNotificationApp = (deps: Deps) => baseApp(deps);

/** `extend` adds routes before the web UI's catch-all (benchmarks, tests). */
export function createApp(deps: Deps, extend?: (app: Hono<AppEnv>) => void) {
  const app = baseApp(deps);
  app.route('/service/token', tokenRoutes());

  app.get('/metrics', metricsAccess, async (c) => {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType });
  });

  const api = createApi();
  // Built on the first request: most instances never serve it, and it would stay in memory.
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/api/v1/openapi.json', (c) => c.json((document ??= openApiDocument(api))));
  app.route('/api/v1', api);
  extend?.(app);
  app.use('*', lazyUi(deps));
  return app;
}
