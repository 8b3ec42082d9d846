import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { fail } from '../errors';
import type { AppContext, AppEnv } from './env';

export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The CSRF token a state-changing request presents: the x-csrf-token header or the _csrf form field. */
async function presentedCsrf(c: AppContext): Promise<string> {
  const header = c.req.header('x-csrf-token');
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
    const body = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
    const field = body['_csrf'];
    if (typeof field === 'string') return field;
  }
  return '';
}

/**
 * The one CSRF token check: a session's token (API and pages) or a visitor's double-submit cookie
 * (sign-in and language forms) must come back with the request; 403 otherwise.
 */
export async function requireCsrfToken(c: AppContext, expected: string): Promise<void> {
  if (!sameSecret(await presentedCsrf(c), expected)) throw fail(403, 'csrf', 'csrf');
}

/**
 * A browser that has cached Basic credentials for Wharf sends them along with a form another site
 * posts here. Session callers need a CSRF token anyway; for everyone else a state-changing request
 * that a browser marks as coming from another site (Sec-Fetch-Site, else an Origin that is not
 * this host) is refused before any credential is looked at. Scripts send neither header.
 */
export const sameOriginWrites: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next();
  const site = c.req.header('sec-fetch-site');
  const origin = c.req.header('origin');
  let foreign = site === 'cross-site' || site === 'same-site';
  if (!site && origin) {
    try {
      foreign = origin === 'null' || new URL(origin).host !== c.req.header('host');
    } catch {
      foreign = true;
    }
  }
  if (foreign) throw fail(403, 'csrf', 'csrf');
  return next();
};
