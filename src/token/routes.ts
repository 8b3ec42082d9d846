import { Hono } from 'hono';
import { limitBody } from '../http/limits';
import { AppError, invalidRequest } from '../errors';
import { acceptUser, authenticatePassword } from '../identity/authenticate';
import { anonymous, type Principal } from '../identity/principal';
import { parseBasicAuth } from '../http/basic';
import { clientIp, type AppContext, type AppEnv } from '../http/env';
import { parseScopes } from './scope';
import { redeemRefreshToken } from './refresh';
import { issueToken, type TokenServiceDeps } from './service';
import { tokenErrorResponse } from './errors';

/** More scopes than any client sends; beyond it the request is refused rather than processed. */
const MAX_SCOPES = 100;
const MAX_FORM_BYTES = 64 * 1024;

function tokenDeps(c: AppContext): TokenServiceDeps {
  const { db, clock, tokenSigner, config, storageAlarm } = c.var.deps;
  return {
    db,
    clock,
    signer: tokenSigner,
    storageAlarm,
    issuer: config.token.issuer,
    service: config.token.service,
    expiresIn: config.token.expiresIn,
    refreshTokenDays: config.token.refreshTokenDays,
    defaultProject: config.defaultProject.name,
    pushExpiresIn: config.storage.pushTokenExpiresIn,
  };
}

function checkService(c: AppContext, service: string | undefined | null): void {
  if (service && service !== c.var.deps.config.token.service)
    throw invalidRequest(`unknown service ${JSON.stringify(service.slice(0, 100))}`);
}

function scopesOf(values: string[]) {
  const count = values.reduce((n, v) => n + v.split(' ').filter(Boolean).length, 0);
  if (count > MAX_SCOPES) throw invalidRequest(`too many scopes (${count}); at most ${MAX_SCOPES}`);
  return parseScopes(values);
}

const outcomeOf = (status: number) => {
  if (status < 400) return 'issued';
  if (status === 401) return 'unauthorized';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'error';
  return 'bad_request';
};

/** The Distribution token endpoint: GET (docker, skopeo) and the OAuth2 form POST (containerd, docker refresh). */
export function tokenRoutes() {
  const app = new Hono<AppEnv>();
  app.onError(tokenErrorResponse);

  app.use(async (c, next) => {
    const { metrics } = c.var.deps;
    const end = metrics.tokenLatency.startTimer({ method: c.req.method });
    try {
      await next();
    } finally {
      // Errors are already answers here: the token routes' own error handler ran.
      metrics.tokenRequests.inc({ outcome: outcomeOf(c.res.status), method: c.req.method });
      end();
    }
  });

  app.get('/', async (c) => {
    checkService(c, c.req.query('service'));
    const scopes = scopesOf(c.req.queries('scope') ?? []);
    const credentials = parseBasicAuth(c.req.header('authorization'));
    const ctx = { ip: clientIp(c), userAgent: c.req.header('user-agent') };
    const principal: Principal = credentials
      ? await authenticatePassword(c.var.deps, credentials.username, credentials.password, ctx)
      : anonymous;
    const body = await issueToken(tokenDeps(c), {
      principal,
      scopes,
      offline: c.req.query('offline_token') === 'true',
      clientId: c.req.query('client_id'),
      login: credentials !== null,
      ...ctx,
    });
    return c.json(body, 200, { 'Cache-Control': 'no-store' });
  });

  // Streams are counted too: a chunked body without Content-Length stops at the limit instead of
  // being buffered whole.
  const [declaredLimit, streamLimit] = limitBody(MAX_FORM_BYTES, (headers) => new AppError(413, 'payload_too_large', 'form body too large', headers));
  app.post('/', declaredLimit, streamLimit, async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/x-www-form-urlencoded\b/i.test(type))
      throw invalidRequest('the token endpoint takes application/x-www-form-urlencoded bodies');
    const raw = await c.req.text();
    const form = new URLSearchParams(raw);
    checkService(c, form.get('service'));
    const scopes = scopesOf(form.getAll('scope'));
    const ctx = { ip: clientIp(c), userAgent: c.req.header('user-agent') };
    const grant = form.get('grant_type');
    let principal: Principal;
    let login = false;
    if (grant === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (!username || password === null) throw invalidRequest('grant_type=password needs username and password');
      principal = await authenticatePassword(c.var.deps, username, password, ctx);
      login = true;
    } else if (grant === 'refresh_token') {
      const token = form.get('refresh_token');
      if (!token) throw invalidRequest('grant_type=refresh_token needs refresh_token');
      principal = await acceptUser(c.var.deps, await redeemRefreshToken(c.var.deps.db, c.var.deps.clock, token), 'refresh');
    } else {
      throw new AppError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    const body = await issueToken(tokenDeps(c), {
      principal,
      scopes,
      offline: form.get('access_type') === 'offline',
      clientId: form.get('client_id') ?? undefined,
      login,
      ...ctx,
    });
    return c.json(body, 200, { 'Cache-Control': 'no-store' });
  });

  return app;
}
