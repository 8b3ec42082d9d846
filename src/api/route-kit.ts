import { z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { INTEGER_MAX } from '../db/engine';
import { unauthorized, forbidden } from '../errors';
import { authenticatePassword } from '../identity/authenticate';
import type { Principal } from '../identity/principal';
import { sessionMiddleware } from '../http/session';
import { parseBasicAuth } from '../http/basic';
import { clientIp, type AppContext, type AppEnv } from '../http/env';

export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

export const errorResponses = {
  400: { description: 'Invalid input', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'Authentication required or failed', content: { 'application/json': { schema: ErrorSchema } } },
  403: { description: 'Not allowed', content: { 'application/json': { schema: ErrorSchema } } },
  404: { description: 'Not found (or not visible to the caller)', content: { 'application/json': { schema: ErrorSchema } } },
  409: { description: 'Conflict', content: { 'application/json': { schema: ErrorSchema } } },
  429: { description: 'Too many failed logins', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

export const pick = <K extends keyof typeof errorResponses>(...codes: K[]) =>
  Object.fromEntries(codes.map((k) => [k, errorResponses[k]])) as Pick<typeof errorResponses, K>;

/** A row id past what the engines store is a 400, not a query that fails. */
export const ROW_ID_MAX = INTEGER_MAX;

export const PageQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1).openapi({ description: 'Page number, from 1' }),
  pageSize: z.coerce.number().int().min(1).max(500).default(50).openapi({ description: 'Items per page (max 500)' }),
});

/** One page of a short listing the service reads whole (registries, system robots). */
export const pageOfList = <T>(all: T[], q: { page: number; pageSize: number }) => ({
  items: all.slice((q.page - 1) * q.pageSize, q.page * q.pageSize),
  total: all.length,
});

export const listOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ items: z.array(item), total: z.number().int() }).openapi(name);

export const json = <T extends z.ZodTypeAny>(schema: T, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

type Security = Record<string, string[]>[];
/** Anonymous callers allowed (they see public projects only). */
export const security: Security = [{ basicAuth: [] }, {}];
export const authRequired: Security = [{ basicAuth: [] }];

/** The caller of a request with Basic credentials (401/429 when they are wrong), or null without them. */
export async function basicPrincipal(c: AppContext): Promise<Principal | null> {
  const credentials = parseBasicAuth(c.req.header('authorization'));
  if (!credentials) return null;
  return authenticatePassword(c.var.deps, credentials.username, credentials.password, { ip: clientIp(c), userAgent: c.req.header('user-agent') });
}

/** Resolves the caller from Basic credentials, else from the browser session; neither means anonymous. */
export const resolveCaller: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await basicPrincipal(c);
  if (!principal) return sessionMiddleware(c, next);
  c.set('principal', principal);
  c.set('csrfToken', '');
  await next();
};

export function requireUser(c: AppContext): Extract<Principal, { kind: 'user' }> {
  const p = c.var.principal;
  if (p.kind === 'robot' || p.kind === 'system-robot') throw forbidden('auth.robotNotAllowed');
  if (p.kind !== 'user') throw unauthorized();
  return p;
}

/** A user, or a system robot allowed to create projects (the service checks the rest). */
export function requireProjectCreator(c: AppContext): Principal {
  const p = c.var.principal;
  if (p.kind === 'system-robot' && p.createProjects) return p;
  return requireUser(c);
}

export function requireAdmin(c: AppContext): Extract<Principal, { kind: 'user' }> {
  const p = requireUser(c);
  if (!p.admin) throw forbidden('auth.adminOnly');
  return p;
}
