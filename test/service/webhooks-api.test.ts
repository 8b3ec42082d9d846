import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/context';
import { createUser, findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { createProject, setMember } from '../../src/access/projects';
import { startAppInstance, type AppInstance } from '../support/instance';
import { webhookDeliveries, webhooks } from '../support/tables';

/** The webhooks API: who may use it, and every bad input refused with nothing stored. */

let running: AppInstance;
const ADMIN = 'admin:admin-password-1';
const db = () => running.instance.deps.db;

async function api(method: string, path: string, auth: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await running.app.request(path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text };
}

const state = async () => JSON.stringify([await db().select().from(webhooks), await db().select().from(webhookDeliveries)]);
const HOOKS = '/api/v1/projects/team/webhooks';
const good = { name: 'ci', url: 'https://ci.example.com/hook', events: ['push'] };

beforeAll(async () => {
  running = await startAppInstance('wharf-webhooks-api-');
  const deps = running.instance.deps;
  const ctx = contextFor(deps, userPrincipal((await findUser(deps.db, 'admin'))!, 'password'), { username: 'admin' });
  await createProject(ctx, { name: 'team' });
  for (const [name, role] of [['owner', 'projectAdmin'], ['dev', 'developer']] as const) {
    await createUser(ctx, { username: name, password: `${name}-password-1` });
    await setMember(ctx, 'team', name, role);
  }
  await createUser(ctx, { username: 'stranger', password: 'stranger-password-1' });
});

afterAll(async () => {
  await running?.stop();
});

describe('webhooks API', () => {
  it('projectAdmins and system admins manage webhooks; developers get 403, strangers 404, anonymous 401', async () => {
    const made = await api('POST', HOOKS, 'owner:owner-password-1', { ...good, secret: 'sixteen-chars-secret' });
    expect(made.status, made.text).toBe(201);
    expect(made.body.hasSecret).toBe(true);
    expect(made.text).not.toContain('sixteen-chars-secret');
    expect((await api('GET', HOOKS, ADMIN)).body.items.map((h: any) => h.name)).toEqual(['ci']);
    expect((await api('GET', HOOKS, 'dev:dev-password-1')).status).toBe(403);
    expect((await api('POST', HOOKS, 'dev:dev-password-1', { ...good, name: 'x' })).status).toBe(403);
    expect((await api('GET', HOOKS, 'stranger:stranger-password-1')).status).toBe(404);
    expect((await api('GET', HOOKS, null)).status).toBe(401);
    expect((await api('POST', HOOKS, ADMIN, good)).status).toBe(409);
    const changed = await api('PATCH', `${HOOKS}/ci`, ADMIN, { events: ['delete', 'push'], secret: null, enabled: false });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({ events: ['push', 'delete'], hasSecret: false, enabled: false });
    expect((await api('GET', `${HOOKS}/nope`, ADMIN)).status).toBe(404);
    expect((await api('DELETE', `${HOOKS}/ci`, ADMIN)).status).toBe(204);
    expect((await api('GET', HOOKS, ADMIN)).body.items).toEqual([]);
  });

  it.each([
    ['a URL that is not http(s)', { url: 'ftp://ci.example.com/hook' }],
    ['a file URL', { url: 'file:///etc/passwd' }],
    ['a URL with a password', { url: 'https://user:pw@ci.example.com/hook' }],
    ['a URL that is not one', { url: 'not a url' }],
    ['an overlong URL', { url: `https://ci.example.com/${'a'.repeat(2100)}` }],
    ['loopback', { url: 'http://127.0.0.1:8080/hook' }],
    ['a private address', { url: 'http://10.1.2.3/hook' }],
    ['another private address', { url: 'http://192.168.1.5/hook' }],
    ['the metadata address', { url: 'http://169.254.169.254/latest/meta-data/' }],
    ['another cloud metadata address', { url: 'http://100.100.100.200/' }],
    ['IPv6 loopback', { url: 'http://[::1]/hook' }],
    ['IPv4-mapped loopback', { url: 'http://[::ffff:127.0.0.1]/hook' }],
    ['IPv6 unique-local', { url: 'http://[fd00::1]/hook' }],
    ['localhost', { url: 'http://localhost:9000/hook' }],
    ['a name under localhost', { url: 'http://evil.localhost/hook' }],
    ['a decimal IPv4 form of loopback', { url: 'http://2130706433/hook' }],
    ['unknown event types', { events: ['push', 'explode'] }],
    ['no events', { events: [] }],
    ['repeated events', { events: ['push', 'push'] }],
    ['a bad format', { format: 'xml' }],
    ['a short secret', { secret: 'short' }],
    ['zero tries', { maxAttempts: 0 }],
    ['too many tries', { maxAttempts: 1000 }],
    ['fractional tries', { maxAttempts: 2.5 }],
    ['a tiny timeout', { timeoutMs: 1 }],
    ['an hour-long timeout', { timeoutMs: 3_600_000 }],
    ['a bad name', { name: '../x' }],
    ['an empty name', { name: '' }],
    ['an unknown field', { color: 'red' }],
  ])('refuses %s with 400 and stores nothing', async (_what, change) => {
    const before = await state();
    const r = await api('POST', HOOKS, ADMIN, { ...good, name: 'bad', ...change });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.text).not.toMatch(/at .*\.ts:\d+/);
    expect(await state()).toBe(before);
  });

  it('refuses the same bad values on PATCH, changing nothing; a non-JSON body is 400', async () => {
    expect((await api('POST', HOOKS, ADMIN, good)).status).toBe(201);
    const before = await state();
    for (const change of [{ url: 'http://127.0.0.1/x' }, { events: ['nope'] }, { maxAttempts: -1 }, { secret: 'short' }, { enabled: 'yes' }])
      expect((await api('PATCH', `${HOOKS}/ci`, ADMIN, change)).status).toBe(400);
    expect((await api('POST', HOOKS, ADMIN, '{"name": ')).status).toBe(400);
    expect((await api('POST', `${HOOKS}/ci/deliveries/999999/redeliver`, ADMIN)).status).toBe(404);
    expect((await api('GET', `${HOOKS}/ci/deliveries/abc`, ADMIN)).status).toBe(400);
    expect(await state()).toBe(before);
  });

  it('the audit rows name the webhook and its URL without the query string, never the secret', async () => {
    expect((await api('POST', HOOKS, ADMIN, { ...good, name: 'tok', url: 'https://ci.example.com/h?token=receiver-token', secret: 'a-secret-that-is-long' })).status).toBe(201);
    const audit = await api('GET', '/api/v1/audit?action=webhook_create', ADMIN);
    const text = JSON.stringify(audit.body);
    expect(text).toContain('team/tok');
    expect(text).not.toContain('receiver-token');
    expect(text).not.toContain('a-secret-that-is-long');
  });
});
