import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, refreshTokens, users } from '../support/tables';
import { skopeoCopy } from '../support/clients';
import { buildImage } from '../support/oci';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import { startAppInstance } from '../support/instance';
import { freePort } from '../support/ports';

/** The token endpoint's GET and OAuth2 POST flows, refresh tokens, and what bad input gets. */

let w: TestWharf;
let work: string;
const PASSWORD = 'token-password-1';
const basic = (u: string) => `Basic ${Buffer.from(u).toString('base64')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-token-'));
  const [started, image] = await Promise.all([startTestWharf(), buildImage(path.join(work, 'img'))]);
  w = started;
  for (const u of ['carol', 'dave']) await w.api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PASSWORD } });
  await w.api('POST', '/api/v1/projects', { auth: `carol:${PASSWORD}`, body: { name: 'team' } });
  const r = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/app:1`, { destCreds: `carol:${PASSWORD}` });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

const tokenGet = (query: string, headers: Record<string, string> = {}) => fetch(`${w.url}/service/token?${query}`, { headers });
const tokenPost = (form: Record<string, string> | string, headers: Record<string, string> = {}) =>
  fetch(`${w.url}/service/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof form === 'string' ? form : new URLSearchParams(form).toString(),
  });

/** Lists tags at the registry with a bearer token: proves the token works where it matters. */
const registryTags = (token: string) =>
  fetch(`http://${w.registry}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });

describe('pushing into a project that does not exist yet', () => {
  it('a system admin may create a project by pushing, but never one whose name the API could not manage', async () => {
    const scopeOf = async (repository: string) => {
      const res = await tokenGet(`service=wharf-registry&scope=repository:${repository}:pull,push`, { authorization: basic(admin) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { scope?: string }).scope;
    };
    expect(await scopeOf('brand-new/app')).toBe('repository:brand-new/app:pull,push');
    const long = `${'x'.repeat(200)}/app`;
    expect(await scopeOf(long)).toBe(`repository:${long}:pull`);
  });
});

describe('GET flow', () => {
  it('answers token, access_token, expires_in and issued_at, with the granted subset of the asked scopes', async () => {
    const res = await tokenGet('service=wharf-registry&scope=repository:team/app:pull,push,delete&scope=registry:catalog:*', {
      authorization: basic(`carol:${PASSWORD}`),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(900);
    expect(Date.parse(body.issued_at as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(body.refresh_token).toBeUndefined();
    const claims = decodeJwt(body.token as string);
    expect(claims.sub).toBe('carol');
    expect(claims.aud).toBe('wharf-registry');
    // carol is projectAdmin of team but no system admin: no catalog.
    expect(claims.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }]);
    expect((await registryTags(body.token as string)).status).toBe(200);
  });

  it('a docker login (credentials, no scope) gets an empty token and is audited as login', async () => {
    const res = await tokenGet('service=wharf-registry&account=dave&client_id=docker', { authorization: basic(`dave:${PASSWORD}`) });
    expect(res.status).toBe(200);
    const claims = decodeJwt(((await res.json()) as { token: string }).token);
    expect(claims.access).toEqual([]);
    const rows = await w.wharf.deps.db.select().from(audit).where(eq(audit.action, 'login'));
    expect(rows.some((r) => r.username === 'dave' && r.sourceIp === '127.0.0.1')).toBe(true);
  });

  it('asking for more than allowed is no error: the token carries nothing, and the refusal is audited', async () => {
    const res = await tokenGet('service=wharf-registry&scope=repository:team/app:push', { authorization: basic(`dave:${PASSWORD}`) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; scope?: string };
    expect(decodeJwt(body.token).access).toEqual([]);
    expect(body.scope).toBeUndefined();
    expect((await registryTags(body.token)).status).toBe(401);
    const denied = await w.wharf.deps.db.select().from(audit).where(eq(audit.action, 'token_denied'));
    expect(denied.some((r) => r.username === 'dave' && r.repository === 'team/app' && r.project === 'team')).toBe(true);
  });

  it('wrong credentials: 401 with the registry error shape and WWW-Authenticate: Basic', async () => {
    const res = await tokenGet('service=wharf-registry&scope=repository:team/app:pull', { authorization: basic('carol:nope-nope') });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
  });

  it('offline_token=true returns a refresh token, stored only as a hash', async () => {
    const res = await tokenGet('service=wharf-registry&offline_token=true&client_id=test', { authorization: basic(`dave:${PASSWORD}`) });
    const body = (await res.json()) as { refresh_token: string };
    expect(body.refresh_token).toMatch(/^wrt_/);
    const rows = await w.wharf.deps.db.select().from(refreshTokens);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.tokenHash).not.toContain(body.refresh_token);
  });
});

describe('OAuth2 POST flow', () => {
  it('a personal access token gets no refresh token, so nothing it mints outlives its revocation', async () => {
    const user = (await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'dave'))))!;
    const refreshCount = async () => (await w.wharf.deps.db.select().from(refreshTokens).where(eq(refreshTokens.userId, user.id))).length;
    const before = await refreshCount();
    const created = await w.api('POST', '/api/v1/users/dave/tokens', { auth: `dave:${PASSWORD}`, body: { name: 'no-refresh' } });
    expect(created.status).toBe(201);
    const pat = created.body.secret as string;
    const viaGet = (await (await tokenGet('service=wharf-registry&offline_token=true&scope=repository:team/app:pull', { authorization: basic(`dave:${pat}`) })).json()) as Record<string, unknown>;
    expect(viaGet.token).toBeTruthy();
    expect(viaGet.refresh_token).toBeUndefined();
    const viaPost = await tokenPost({ grant_type: 'password', username: 'dave', password: pat, access_type: 'offline', service: 'wharf-registry' });
    expect(viaPost.status).toBe(200);
    expect(((await viaPost.json()) as Record<string, unknown>).refresh_token).toBeUndefined();
    expect((await refreshCount())).toBe(before);
  });

  it('grant_type=password with access_type=offline, then grant_type=refresh_token', async () => {
    const first = await tokenPost({
      grant_type: 'password',
      service: 'wharf-registry',
      client_id: 'containerd',
      access_type: 'offline',
      username: 'carol',
      password: PASSWORD,
      scope: 'repository:team/app:pull repository:team/other:pull,push',
    });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { access_token: string; refresh_token: string; scope: string };
    expect(body.scope).toBe('repository:team/app:pull repository:team/other:pull,push');
    expect(body.refresh_token).toMatch(/^wrt_/);

    const refreshed = await tokenPost({
      grant_type: 'refresh_token',
      service: 'wharf-registry',
      client_id: 'containerd',
      refresh_token: body.refresh_token,
      scope: 'repository:team/app:pull',
    });
    expect(refreshed.status).toBe(200);
    const again = (await refreshed.json()) as { access_token: string };
    expect(decodeJwt(again.access_token).sub).toBe('carol');
    expect((await registryTags(again.access_token)).status).toBe(200);
  });

  it('a refresh token dies with a password change and with disable', async () => {
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'erin', password: PASSWORD } });
    const get = async () =>
      ((await (await tokenPost({ grant_type: 'password', username: 'erin', password: PASSWORD, access_type: 'offline', service: 'wharf-registry' })).json()) as {
        refresh_token: string;
      }).refresh_token;
    const redeem = (t: string) => tokenPost({ grant_type: 'refresh_token', refresh_token: t, service: 'wharf-registry' });

    const beforeChange = await get();
    expect((await redeem(beforeChange)).status).toBe(200);
    expect((await w.api('PUT', '/api/v1/users/erin/password', { auth: admin, body: { newPassword: 'erin-new-password' } })).status).toBe(204);
    const dead = await redeem(beforeChange);
    expect(dead.status).toBe(401);
    expect(await dead.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'refresh token is invalid, expired or revoked' }],
      error: 'invalid_grant',
      error_description: 'refresh token is invalid, expired or revoked',
    });

    const t2 = ((await (await tokenPost({ grant_type: 'password', username: 'erin', password: 'erin-new-password', access_type: 'offline' })).json()) as {
      refresh_token: string;
    }).refresh_token;
    expect((await redeem(t2)).status).toBe(200);
    await w.api('PATCH', '/api/v1/users/erin', { auth: admin, body: { disabled: true } });
    expect((await redeem(t2)).status).toBe(401);
    // Re-enabling does not revive tokens issued before the disable.
    await w.api('PATCH', '/api/v1/users/erin', { auth: admin, body: { disabled: false } });
    expect((await redeem(t2)).status).toBe(401);
  });

  it('wrong password in the form: 401', async () => {
    const res = await tokenPost({ grant_type: 'password', username: 'carol', password: 'wrong-wrong', service: 'wharf-registry' });
    expect(res.status).toBe(401);
  });
});

/** Sends a raw request line so that bytes fetch would refuse or re-encode reach the server as they are. */
function rawGet(pathAndQuery: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(w.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: pathAndQuery, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bad input never yields a 500', () => {
  it('malformed scopes are dropped, never echoed', async () => {
    const junk = ['repository', 'repository:', ':::', 'repository:Team/App:pull', 'repository:team/app:', 'repository:team/app:fly', 'user:x:pull', 'repository:../x:pull', '%00'];
    const res = await tokenGet(`service=wharf-registry&${junk.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`, {
      authorization: basic(admin),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string };
    expect(decodeJwt(body.token).access).toEqual([]);
  });

  it('1,000 scopes in one request: 400', async () => {
    const scopes = Array.from({ length: 1000 }, (_, i) => `scope=repository:team/app${i}:pull`).join('&');
    const res = await fetch(`${w.url}/service/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&username=carol&password=${PASSWORD}&${scopes}`,
    });
    expect(res.status).toBe(400);
    const get = await tokenGet(`service=wharf-registry&scope=${Array.from({ length: 1000 }, (_, i) => `repository:t/a${i}:pull`).join('%20')}`);
    expect([400, 414, 431]).toContain(get.status);
  });

  it('a 64 KB query string is refused before it costs anything', async () => {
    const res = await rawGet(`/service/token?service=wharf-registry&scope=${'a'.repeat(64 * 1024)}`);
    expect([400, 414, 431]).toContain(res.status);
  });

  it('unknown grant_type: 400 unsupported_grant_type', async () => {
    const res = await tokenPost({ grant_type: 'client_credentials', client_id: 'x' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'BAD_REQUEST' }], error: 'unsupported_grant_type' });
    const missing = await tokenPost({ username: 'carol', password: PASSWORD });
    expect(missing.status).toBe(400);
  });

  it('POST with the wrong content type: 400', async () => {
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
      const res = await fetch(`${w.url}/service/token`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: JSON.stringify({ grant_type: 'password', username: 'carol', password: PASSWORD }),
      });
      expect(res.status, type).toBe(400);
    }
    const none = await fetch(`${w.url}/service/token`, { method: 'POST', body: new Uint8Array([1, 2, 3]) });
    expect(none.status).toBe(400);
  });

  it('a chunked form body without Content-Length is cut off at the limit, not buffered whole: 413 before the upload ends', async () => {
    const TOTAL = 64 * 1024 * 1024;
    const { status, sentWhenAnswered } = await new Promise<{ status: number; sentWhenAnswered: number }>((resolve, reject) => {
      const u = new URL(`${w.url}/service/token`);
      let sent = 0;
      let answered = false;
      const req = httpRequest(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' } },
        (res) => {
          answered = true;
          res.resume();
          resolve({ status: res.statusCode!, sentWhenAnswered: sent });
          req.destroy();
        },
      );
      req.on('error', (err) => (answered ? undefined : reject(err)));
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = () => {
        while (!answered && sent < TOTAL) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(sentWhenAnswered).toBeLessThan(TOTAL / 4);
  });

  it('a huge form body: 413', async () => {
    const res = await tokenPost(`grant_type=password&username=carol&password=${'x'.repeat(200 * 1024)}`);
    expect(res.status).toBe(413);
  });

  it('invalid Basic headers: 400', async () => {
    for (const header of ['Basic', 'Basic !!!!', 'Basic ' + Buffer.from('nocolon').toString('base64'), 'Basic ' + Buffer.from([0xff, 0xfe, 0x3a, 0x41]).toString('base64'), 'Basic abc']) {
      const res = await tokenGet('service=wharf-registry&scope=repository:team/app:pull', { authorization: header });
      expect(res.status, header).toBeGreaterThanOrEqual(400);
      expect(res.status, header).toBeLessThan(500);
    }
  });

  it('non-UTF-8 bytes in the query and form: 4xx or an empty grant, never 500', async () => {
    const q = await rawGet('/service/token?service=wharf-registry&scope=repository:team/%FF%FE:pull&account=%C3%28');
    expect(q.status).toBeLessThan(500);
    if (q.status === 200) expect(decodeJwt(JSON.parse(q.body).token).access).toEqual([]);
    const form = await fetch(`${w.url}/service/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.concat([Buffer.from('grant_type=password&username=carol&password='), Buffer.from([0xff, 0xfe, 0xfd])]),
    });
    expect(form.status).toBe(401);
  });

  it('an unknown service: 400', async () => {
    const res = await tokenGet('service=someone-else&scope=repository:team/app:pull');
    expect(res.status).toBe(400);
  });
});

describe('errors in the shape clients print (API.md "Token endpoint errors")', () => {
  const onlyRegistryShape = (body: Record<string, unknown>) => expect(Object.keys(body)).toEqual(['errors']);

  it('GET: 400 and 401 answer {"errors":[{code,message}]} and nothing else', async () => {
    const unknownService = await tokenGet('service=someone-else&scope=repository:team/app:pull');
    expect(unknownService.status).toBe(400);
    const bad = (await unknownService.json()) as Record<string, unknown>;
    expect(bad).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'unknown service "someone-else"' }] });
    onlyRegistryShape(bad);
    const wrong = await tokenGet('service=wharf-registry', { authorization: basic('dave:not-his-password') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('cache-control')).toBe('no-store');
    onlyRegistryShape((await wrong.json()) as Record<string, unknown>);
  });

  it('POST: the same errors plus RFC 6749 error and error_description', async () => {
    const wrong = await tokenPost({ grant_type: 'password', username: 'dave', password: 'not-his-password', service: 'wharf-registry' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }],
      error: 'invalid_grant',
      error_description: 'invalid username or password',
    });
    const missing = await tokenPost({ grant_type: 'password', username: 'dave' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      errors: [{ code: 'BAD_REQUEST', message: 'grant_type=password needs username and password' }],
      error: 'invalid_request',
      error_description: 'grant_type=password needs username and password',
    });
    const unsupported = await tokenPost({ grant_type: 'client_credentials' });
    expect(await unsupported.json()).toEqual({
      errors: [{ code: 'BAD_REQUEST', message: 'grant_type must be password or refresh_token' }],
      error: 'unsupported_grant_type',
      error_description: 'grant_type must be password or refresh_token',
    });
    // Client input quoted in a message stays within the characters RFC 6749 allows.
    const service = await tokenPost({ grant_type: 'password', username: 'dave', password: 'x', service: 'bad"\\é' });
    expect(service.status).toBe(400);
    const described = ((await service.json()) as { error_description: string }).error_description;
    expect(described).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
    const tooLarge = await tokenPost(`grant_type=password&username=dave&password=${'x'.repeat(100 * 1024)}`);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ errors: [{ code: 'BAD_REQUEST' }], error: 'invalid_request' });
  });

  it('a lockout is 429 TOOMANYREQUESTS with Retry-After, in both flows', async () => {
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'locked-out', password: PASSWORD } });
    for (let i = 0; i < 10; i++) await tokenGet('service=wharf-registry', { authorization: basic('locked-out:wrong-password') });
    const get = await tokenGet('service=wharf-registry', { authorization: basic(`locked-out:${PASSWORD}`) });
    expect(get.status).toBe(429);
    expect(Number(get.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await get.json()).toEqual({ errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed logins for this user; try again later' }] });
    const post = await tokenPost({ grant_type: 'password', username: 'locked-out', password: PASSWORD });
    expect(post.status).toBe(429);
    expect(Number(post.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await post.json()).toEqual({
      errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed logins for this user; try again later' }],
      error: 'invalid_grant',
      error_description: 'too many failed logins for this user; try again later',
    });
  });

  it('the API keeps its own error shape', async () => {
    const res = await w.api('GET', '/api/v1/me', { auth: 'dave:not-his-password' });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'unauthorized', message: 'invalid username or password' } });
  });
});

describe('empty Basic credentials are anonymous', () => {
  const EMPTY = 'Basic Og==';

  it('the token endpoint gives Basic Og== an anonymous token (public projects only), in GET and POST', async () => {
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'open', public: true } })).status).toBe(201);
    const res = await tokenGet('service=wharf-registry&scope=repository:open/app:pull,push&scope=repository:team/app:pull', { authorization: EMPTY });
    expect(res.status).toBe(200);
    const claims = decodeJwt(((await res.json()) as { token: string }).token);
    expect(claims.sub).toBe('');
    expect(claims.access).toEqual([{ type: 'repository', name: 'open/app', actions: ['pull'] }]);
    // The OAuth2 form has no Basic fallback; the header is ignored there as before.
    const post = await tokenPost({ grant_type: 'password', username: 'dave', password: PASSWORD }, { authorization: EMPTY });
    expect(post.status).toBe(200);
  });

  it('the API treats Basic Og== as anonymous too', async () => {
    const projects = await w.api('GET', '/api/v1/projects', { headers: { authorization: EMPTY } });
    expect(projects.status).toBe(200);
    expect(projects.body.items.map((p: { name: string }) => p.name)).toContain('open');
    expect(projects.body.items.map((p: { name: string }) => p.name)).not.toContain('team');
    expect((await w.api('GET', '/api/v1/me', { headers: { authorization: EMPTY } })).status).toBe(401);
  });

  it('an empty user with a password stays refused: 400, in the token endpoint and the API', async () => {
    const header = basic(':some-password');
    const res = await tokenGet('service=wharf-registry&scope=repository:open/app:pull', { authorization: header });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'Basic credentials with a password need a user name' }] });
    expect((await w.api('GET', '/api/v1/projects', { headers: { authorization: header } })).status).toBe(400);
  });
});

describe('when the user directory cannot be reached', () => {
  it('503 UNAVAILABLE in both flows (POST with error temporarily_unavailable)', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const local = await startAppInstance('wharf-token-503-', 'admin-password-1', { ldap: { url: dead, baseDN: 'dc=example,dc=org', timeoutMs: 1000 } });
    try {
      const message = 'the user directory cannot be reached; try again later';
      const get = await local.app.request('/service/token?service=wharf-registry', { headers: { authorization: basic('somebody:password-1') } });
      expect(get.status).toBe(503);
      expect(await get.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message }] });
      const post = await local.app.request('/service/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', username: 'somebody', password: 'password-1' }).toString(),
      });
      expect(post.status).toBe(503);
      expect(await post.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message }], error: 'temporarily_unavailable', error_description: message });
    } finally {
      await local.stop();
    }
  });
});
