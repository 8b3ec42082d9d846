import { readFileSync } from 'node:fs';
import { packageFile } from '../../src/package-files';
import { isUiPath } from '../paths';
import { Hono, type MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { fail, notFound } from '../../src/errors';
import { requireCsrfToken } from '../../src/http/csrf';
import type { AppEnv } from '../../src/http/env';
import { limitBody } from '../../src/http/limits';
import { sessionMiddleware } from '../../src/http/session';
import { accountPages } from './account';
import { auditPages } from './audit';
import { deletionPages } from './deletion';
import { executionPages, lastStatuses, policyRunsPanel } from './executions';
import { immutabilityPages } from './immutability';
import { pageError } from './page-errors';
import { policyPages } from './policies';
import { projectPages } from './project';
import { projectStoragePages } from './project-storage';
import { imagePages } from './image';
import { projectsPages } from './projects';
import { registryPages } from './registries';
import { repositoryPages } from './repositories';
import { retentionPages } from './retention';
import { PRE_CSRF_COOKIE } from './request';
import { sessionPages } from './session';
import { systemPages } from './system';
import { gcPages } from './gc';
import { systemRobotPages } from './system-robots';
import { usersPages } from './users';

/** No inline script or style anywhere: the stylesheet and the one script come from /ui/static. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const STATIC_FILES: Record<string, { type: string; body: Buffer }> = Object.fromEntries(
  (
    [
      ['wharf.css', 'text/css; charset=utf-8'],
      ['wharf.js', 'text/javascript; charset=utf-8'],
    ] as const
  ).map(([name, type]) => [name, { type, body: readFileSync(packageFile('ui', 'static', name)) }]),
);

/** Headers of every page: the CSP, no framing, no sniffing, no caching of pages that show secrets. */
const pageHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('X-Frame-Options', 'DENY');
  c.header('Referrer-Policy', 'same-origin');
  if (!c.req.path.startsWith('/ui/static/')) {
    c.header('Cache-Control', 'no-store');
    c.header('Vary', 'Cookie, Accept-Language');
  }
};

/** Visitors without a session post only with the double-submit token (sign-in CSRF, language). */
const anonymousCsrf: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'POST' || c.var.principal.kind === 'user' || c.req.path === '/logout') return next();
  await requireCsrfToken(c, getCookie(c, PRE_CSRF_COOKIE) ?? '');
  return next();
};

const onlyUiPaths =
  (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> =>
  async (c, next) =>
    isUiPath(c.req.path) && !c.req.path.startsWith('/ui/static/') ? await mw(c, next) : await next();

/**
 * The web interface: its middleware, a sub-app per resource, and last the friendly 404 page. It
 * is mounted after every API, registry and benchmark route, since its catch-all would shadow them.
 */
export function uiRoutes(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.onError(pageError);

  ui.use('*', onlyUiPaths(pageHeaders));
  for (const mw of limitBody(64 * 1024, (headers) => fail(413, 'payload_too_large', 'form.tooLarge', {}, headers))) ui.use('*', onlyUiPaths(mw));
  ui.use('*', onlyUiPaths(sessionMiddleware));
  ui.use('*', onlyUiPaths(anonymousCsrf));

  ui.get('/ui/static/:file', (c) => {
    const name = c.req.param('file');
    const file = Object.hasOwn(STATIC_FILES, name) ? STATIC_FILES[name] : undefined;
    if (!file) return c.notFound();
    return c.body(new Uint8Array(file.body), 200, {
      'Content-Type': file.type,
      'Cache-Control': 'public, max-age=3600',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  ui.get('/', (c) => c.redirect('/projects', 303));

  ui.route('/', sessionPages());
  ui.route('/', projectsPages());
  ui.route('/', projectPages());
  ui.route('/', retentionPages());
  ui.route('/', projectStoragePages());
  ui.route('/', imagePages());
  ui.route('/', repositoryPages());
  ui.route('/', deletionPages());
  ui.route('/', auditPages());
  ui.route('/', usersPages());
  ui.route('/', registryPages());
  ui.route('/', policyPages({ policyPanel: policyRunsPanel, lastStatuses }));
  ui.route('/', executionPages());
  ui.route('/', systemRobotPages());
  ui.route('/', accountPages());
  ui.route('/', systemPages());
  ui.route('/', gcPages());
  ui.route('/', immutabilityPages());

  // Any other page path: a friendly 404 page; API, registry and metrics paths keep their JSON 404.
  ui.get('*', async (c, next) => {
    if (!isUiPath(c.req.path)) return next();
    throw notFound('page.notFound');
  });

  return ui;
}
