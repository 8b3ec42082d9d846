import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { anonymous } from '../identity/principal';
import { resolveSession } from '../identity/sessions';
import { requireCsrfToken, SAFE_METHODS } from './csrf';
import type { AppEnv } from './env';

export const SESSION_COOKIE = 'wharf_session';

/** Cookies get the Secure flag when Wharf is reached over HTTPS. */
export const secureCookies = (c: Context<AppEnv>) => c.var.deps.config.publicUrl.startsWith('https:') || new URL(c.req.url).protocol === 'https:';

export function setSessionCookie(c: Context<AppEnv>, cookieValue: string, expiresAt: string): void {
  setCookie(c, SESSION_COOKIE, cookieValue, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: secureCookies(c),
    path: '/',
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secureCookies(c), httpOnly: true, sameSite: 'Strict' });
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
  if (session && !SAFE_METHODS.has(c.req.method)) await requireCsrfToken(c, session.csrfToken);
  await next();
};
