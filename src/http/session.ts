import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { fail } from '../errors';
import { anonymous } from '../identity/principal';
import { resolveSession } from '../identity/sessions';
import type { AppEnv } from './env';

export const SESSION_COOKIE = 'wharf_session';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const secure = (c: Context<AppEnv>) => c.var.deps.config.publicUrl.startsWith('https:') || new URL(c.req.url).protocol === 'https:';

export function setSessionCookie(c: Context<AppEnv>, cookieValue: string, expiresAt: string): void {
  setCookie(c, SESSION_COOKIE, cookieValue, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: secure(c),
    path: '/',
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secure(c), httpOnly: true, sameSite: 'Strict' });
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The CSRF token a state-changing request presents: the x-csrf-token header or the _csrf form field. */
async function presentedCsrf(c: Context<AppEnv>): Promise<string> {
  const header = c.req.header('x-csrf-token');
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const field = body['_csrf'];
    if (typeof field === 'string') return field;
  }
  return '';
}

/**
 * Resolves the caller from the session cookie (anonymous without one) and refuses a state-changing
 * request of a session that does not carry its CSRF token.
 */
export const sessionMiddleware: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cookie = getCookie(c, SESSION_COOKIE);
  const session = cookie ? await resolveSession(c.var.deps, cookie) : null;
  c.set('principal', session?.principal ?? anonymous);
  c.set('csrfToken', session?.csrfToken ?? '');
  if (session && !SAFE_METHODS.has(c.req.method) && !sameToken(await presentedCsrf(c), session.csrfToken))
    throw fail(403, 'csrf', 'csrf');
  await next();
};
