import http from 'node:http';
import { and, asc, count, desc, eq, notInArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, members, projects, users } from '../../src/db/schema';
import { createPersonalToken } from '../../src/identity/tokens';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * The /api/v1 users, projects, members and system endpoints against a real Wharf (with its
 * supervised registry): happy paths, the security of every endpoint (401/403/404 and nothing
 * changed after a refusal), role facts of API.md, password changes, audit rows, bad input and
 * the login throttle.
 *
 * Every request goes through `call`/`raw`, which fail the test on any 500 and on any response
 * that contains a password hash ("scrypt$").
 */

const PW = 'test-password-1';
const ALICE = `alice:${PW}`; // projectAdmin (creator) of alpha (private) and pubproj (public)
const DEV = `dev1:${PW}`; // developer in alpha and pubproj
const GUEST = `guest1:${PW}`; // guest in alpha and pubproj
const OUTSIDER = `outsider:${PW}`; // member of nothing

type Res = { status: number; body: any; headers: Headers | http.IncomingHttpHeaders; text?: string };
type CallOpts = { auth?: string; body?: unknown; headers?: Record<string, string> };

let w: TestWharf;

const db = () => w.wharf.deps.db;

function assertSane(method: string, path: string, r: { status: number; body: unknown }, text?: string): void {
  const shown = (text ?? JSON.stringify(r.body ?? null)).slice(0, 500);
  expect(r.status, `${method} ${path.slice(0, 200)} answered ${r.status}: ${shown}`).not.toBe(500);
  expect(r.status, `${method} ${path.slice(0, 200)} answered ${r.status}: ${shown}`).toBeLessThan(500);
  expect(text ?? JSON.stringify(r.body ?? null), `${method} ${path.slice(0, 200)} leaked a password hash`).not.toContain('scrypt$');
}

/** The harness call, plus the invariants every answer must satisfy. */
async function call(method: string, path: string, opts: CallOpts = {}): Promise<Res> {
  const r = await w.api(method, path, opts);
  assertSane(method, path, r);
  return r;
}

/** A request with the path sent byte for byte (fetch would normalise `..` and `%2e%2e`). */
function raw(
  method: string,
  path: string,
  opts: { auth?: string; body?: string | Buffer; headers?: Record<string, string>; chunked?: boolean; agent?: http.Agent } = {},
): Promise<Res> {
  const u = new URL(w.url);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise<Res>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), method, path, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // not JSON
        }
        const r = { status: res.statusCode ?? 0, body, headers: res.headers, text };
        try {
          assertSane(method, path, r, text);
        } catch (err) {
          reject(err);
          return;
        }
        resolve(r);
      });
    });
    req.on('error', reject);
    if (opts.body !== undefined) {
      if (opts.chunked) {
        const buf = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
        for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024));
        req.end();
      } else req.end(opts.body);
    } else req.end();
  });
}

const header = (r: Res, name: string): string | null => {
  if (r.headers instanceof Headers) return r.headers.get(name);
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : (v ?? null);
};

function expectErrorShape(r: Res, status: number): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  expect(r.body.error.code.length).toBeGreaterThan(0);
  expect(r.body.error.message.length).toBeGreaterThan(0);
  if (status === 401) expect(header(r, 'www-authenticate')).toMatch(/^Basic realm=/);
}

/** Login bookkeeping (like the login audit rows below): a refused request may still be a login. */
const withoutLastLogin = <T extends { lastLoginAt?: unknown }>(u: T) => ({ ...u, lastLoginAt: undefined });

/** Everything a request could change: the tables (read directly) and the admin's view through the API. */
async function snapshot() {
  const d = db();
  const tables = {
    users: d.select().from(users).orderBy(asc(users.id)).all().map(withoutLastLogin),
    projects: d.select().from(projects).orderBy(asc(projects.id)).all(),
    members: d.select().from(members).orderBy(asc(members.projectId), asc(members.userId)).all(),
    changeRows: d
      .select({ n: count() })
      .from(audit)
      .where(notInArray(audit.action, ['login', 'login_failed', 'token_denied']))
      .get()!.n,
  };
  const userList = await call('GET', '/api/v1/users?pageSize=500', { auth: admin });
  const projectList = await call('GET', '/api/v1/projects?pageSize=500', { auth: admin });
  expect(userList.status).toBe(200);
  expect(projectList.status).toBe(200);
  const memberLists: Record<string, unknown> = {};
  for (const p of projectList.body.items as { name: string }[]) {
    const m = await call('GET', `/api/v1/projects/${p.name}/members`, { auth: admin });
    expect(m.status).toBe(200);
    memberLists[p.name] = m.body;
  }
  const userDetails: Record<string, unknown> = {};
  for (const u of userList.body.items as { username: string }[]) {
    const one = await call('GET', `/api/v1/users/${encodeURIComponent(u.username)}`, { auth: admin });
    userDetails[u.username] = withoutLastLogin(one.body);
  }
  const usersSeen = { ...userList.body, items: userList.body.items.map(withoutLastLogin) };
  return { tables, api: { users: usersSeen, projects: projectList.body, memberLists, userDetails } };
}

/** Runs a request that must be refused with `status` and must change nothing. */
async function refused(status: number, request: () => Promise<Res>): Promise<Res> {
  const before = await snapshot();
  const r = await request();
  expectErrorShape(r, status);
  const after = await snapshot();
  expect(after).toEqual(before);
  return r;
}

/** Like `refused`, for answers where several statuses are acceptable (never 2xx, never 5xx). */
async function refusedAny(statuses: number[], request: () => Promise<Res>): Promise<Res> {
  const before = await snapshot();
  const r = await request();
  expect(statuses, `got ${r.status}: ${JSON.stringify(r.body)}`).toContain(r.status);
  expect(r.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  const after = await snapshot();
  expect(after).toEqual(before);
  return r;
}

function auditRows(action: string, resource?: string) {
  const where = resource === undefined ? eq(audit.action, action) : and(eq(audit.action, action), eq(audit.resource, resource));
  return db().select().from(audit).where(where).orderBy(asc(audit.id)).all();
}

function expectAudit(action: string, resource: string, username: string, project?: string) {
  const rows = auditRows(action, resource).filter((r) => r.username === username && (project === undefined || r.project === project));
  expect(rows.length, `no ${action} audit row for ${resource} by ${username}${project ? ` in ${project}` : ''}`).toBeGreaterThan(0);
  const last = rows[rows.length - 1]!;
  expect(last.outcome).toBe('success');
  expect(last.sourceIp).toBeTruthy();
  return last;
}

const userShape = {
  username: expect.any(String),
  email: expect.toSatisfy((v: unknown) => v === null || typeof v === 'string'),
  admin: expect.any(Boolean),
  disabled: expect.any(Boolean),
  source: expect.stringMatching(/^(local|ldap|htpasswd)$/),
  createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
  updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
  lastLoginAt: expect.toSatisfy((v: unknown) => v === null || typeof v === 'string'),
};

function expectUser(body: any, fields: Record<string, unknown> = {}) {
  expect(Object.keys(body).sort()).toEqual(Object.keys(userShape).sort());
  expect(body).toEqual({ ...userShape, ...fields });
}

const projectShape = {
  name: expect.any(String),
  public: expect.any(Boolean),
  createdBy: expect.toSatisfy((v: unknown) => v === null || typeof v === 'string'),
  createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
  updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
};

function expectProject(body: any, fields: Record<string, unknown> = {}) {
  expect(body).toMatchObject({ ...projectShape, ...fields });
  for (const k of Object.keys(body)) expect([...Object.keys(projectShape), 'role', 'repositoryCount']).toContain(k);
}

/** Names of the projects a user may see, from the tables (admin: all). */
function visibleNames(username: string | null): string[] {
  const d = db();
  const all = d.select().from(projects).orderBy(asc(projects.name)).all();
  if (username === null) return all.filter((p) => p.public).map((p) => p.name);
  const user = d.select().from(users).where(eq(users.username, username)).get()!;
  if (user.admin) return all.map((p) => p.name);
  const mine = new Set(d.select().from(members).where(eq(members.userId, user.id)).all().map((m) => m.projectId));
  return all.filter((p) => p.public || mine.has(p.id)).map((p) => p.name);
}

async function createUser(username: string, extra: Record<string, unknown> = {}) {
  const r = await call('POST', '/api/v1/users', { auth: admin, body: { username, password: PW, ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r;
}

beforeAll(async () => {
  w = await startTestWharf();
  for (const u of ['alice', 'dev1', 'guest1', 'outsider']) await createUser(u);
  for (const [name, pub] of [
    ['alpha', false],
    ['pubproj', true],
  ] as const) {
    const r = await call('POST', '/api/v1/projects', { auth: ALICE, body: { name, public: pub } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    for (const [u, role] of [
      ['dev1', 'developer'],
      ['guest1', 'guest'],
    ])
      expect((await call('PUT', `/api/v1/projects/${name}/members/${u}`, { auth: ALICE, body: { role } })).status).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

// ---------------------------------------------------------------------------------------------
describe('system endpoints', () => {
  it('GET /health answers anonymously with {status, database, registry, ldap}', async () => {
    const r = await call('GET', '/api/v1/health');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'healthy', database: 'ok', registry: 'ok', ldap: 'disabled' });
  });

  it('GET /openapi.json answers anonymously with an OpenAPI 3 document of these endpoints', async () => {
    const r = await call('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    expect(r.body.components.securitySchemes.basicAuth).toMatchObject({ type: 'http', scheme: 'basic' });
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/users',
      '/users/{username}',
      '/users/{username}/password',
      '/projects',
      '/projects/{project}',
      '/projects/{project}/members',
      '/projects/{project}/members/{username}',
      '/me',
      '/health',
    ])
      expect(paths).toContain(p);
    expect(Object.keys(r.body.paths['/users/{username}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(r.body.paths['/projects/{project}/members/{username}'])).toEqual(expect.arrayContaining(['put', 'delete']));
  });

  it('GET /me answers the caller {username, admin, source}', async () => {
    const a = await call('GET', '/api/v1/me', { auth: admin });
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ username: 'admin', admin: true, source: 'local' });
    const b = await call('GET', '/api/v1/me', { auth: ALICE });
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ username: 'alice', admin: false, source: 'local' });
  });

  it('GET /me without credentials: 401 with WWW-Authenticate', async () => {
    expectErrorShape(await call('GET', '/api/v1/me'), 401);
  });

  it('GET /me with a wrong password, an unknown user, or a non-Basic scheme: 401', async () => {
    expectErrorShape(await call('GET', '/api/v1/me', { auth: 'outsider:wrong-password' }), 401);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `nobody-here:${PW}` }), 401);
    expectErrorShape(await call('GET', '/api/v1/me', { headers: { authorization: 'Bearer abc.def.ghi' } }), 401);
  });

  it('a wrong password, an unknown user and an empty password answer the same 401', async () => {
    const wrong = await call('GET', '/api/v1/me', { auth: 'guest1:wrong-password' });
    const unknown = await call('GET', '/api/v1/me', { auth: 'ghost-user:wrong-password' });
    const empty = await call('GET', '/api/v1/me', { auth: 'guest1:' });
    for (const r of [wrong, unknown, empty]) expectErrorShape(r, 401);
    expect(unknown.body).toEqual(wrong.body);
    expect(empty.body).toEqual(wrong.body);
    expect((await call('GET', '/api/v1/me', { auth: GUEST })).status).toBe(200);
  });

  it('health and the OpenAPI document reveal no secrets', async () => {
    const { notificationSecret } = w.wharf.deps;
    for (const path of ['/api/v1/health', '/api/v1/openapi.json']) {
      const r = await call('GET', path);
      const text = JSON.stringify(r.body);
      expect(text).not.toContain(ADMIN_PASSWORD);
      expect(text).not.toContain(notificationSecret);
      expect(text).not.toContain(PW);
    }
  });

  it('a malformed Basic header is a 400, not a 500', async () => {
    for (const value of ['Basic !!!notbase64', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic ' + Buffer.from([0xff, 0xfe, 0x3a]).toString('base64')]) {
      const r = await call('GET', '/api/v1/me', { headers: { authorization: value } });
      expectErrorShape(r, 400);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('users', () => {
  it('POST /users (admin): 201 with the user, no hash, and a user_create audit row', async () => {
    const r = await createUser('carol', { email: 'carol@example.org' });
    expectUser(r.body, { username: 'carol', email: 'carol@example.org', admin: false, disabled: false, source: 'local', lastLoginAt: null });
    expectAudit('user_create', 'carol', 'admin');
    // the new user can log in with the password given
    expect((await call('GET', '/api/v1/me', { auth: `carol:${PW}` })).body).toEqual({ username: 'carol', admin: false, source: 'local' });
    // the stored hash is scrypt and never the password itself
    const row = db().select().from(users).where(eq(users.username, 'carol')).get()!;
    expect(row.passwordHash).toMatch(/^scrypt\$/);
    expect(row.passwordHash).not.toContain(PW);
  });

  it('passwords may contain ":" and non-ASCII characters (Basic splits at the first colon, UTF-8)', async () => {
    const password = 'pä:ss:wörd-✓1';
    expect((await call('POST', '/api/v1/users', { auth: admin, body: { username: 'colon.user@corp', password } })).status).toBe(201);
    expect((await call('GET', '/api/v1/me', { auth: `colon.user@corp:${password}` })).body).toEqual({ username: 'colon.user@corp', admin: false, source: 'local' });
    expectErrorShape(await call('GET', '/api/v1/me', { auth: 'colon.user@corp:pä' }), 401);
    expect((await call('GET', '/api/v1/users/colon.user@corp', { auth: admin })).body.username).toBe('colon.user@corp');
  });

  it('POST /users can create another system admin', async () => {
    const r = await createUser('admin2', { admin: true });
    expectUser(r.body, { username: 'admin2', admin: true, email: null });
    expect((await call('GET', '/api/v1/me', { auth: `admin2:${PW}` })).body.admin).toBe(true);
    expect((await call('GET', '/api/v1/users', { auth: `admin2:${PW}` })).status).toBe(200);
  });

  it('POST /users with a duplicate username: 409, nothing changed', async () => {
    await refused(409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'carol', password: 'another-password' } }));
    await refused(409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'admin', password: 'another-password', admin: false } }));
    // the original password of carol still works
    expect((await call('GET', '/api/v1/me', { auth: `carol:${PW}` })).status).toBe(200);
  });

  it('POST /users: anonymous 401, non-admin 403, nothing created', async () => {
    await refused(401, () => call('POST', '/api/v1/users', { body: { username: 'sneaky', password: PW } }));
    for (const who of [ALICE, DEV, GUEST, OUTSIDER])
      await refused(403, () => call('POST', '/api/v1/users', { auth: who, body: { username: 'sneaky', password: PW, admin: true } }));
    expect(db().select().from(users).where(eq(users.username, 'sneaky')).get()).toBeUndefined();
  });

  it('POST /users with a too short password: 400', async () => {
    await refused(400, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'shorty', password: 'short' } }));
  });

  it('GET /users (admin): {items,total}, paged, searchable, no hashes', async () => {
    const all = await call('GET', '/api/v1/users', { auth: admin });
    expect(all.status).toBe(200);
    expect(Object.keys(all.body).sort()).toEqual(['items', 'total']);
    const n = db().select({ n: count() }).from(users).get()!.n;
    expect(all.body.total).toBe(n);
    expect(all.body.items).toHaveLength(Math.min(n, 50));
    for (const u of all.body.items) expectUser(u);
    expect(all.body.items.map((u: any) => u.username)).toEqual(expect.arrayContaining(['admin', 'alice', 'carol']));

    const p1 = await call('GET', '/api/v1/users?page=1&pageSize=2', { auth: admin });
    const p2 = await call('GET', '/api/v1/users?page=2&pageSize=2', { auth: admin });
    expect(p1.body.items).toHaveLength(2);
    expect(p2.body.items).toHaveLength(2);
    expect(p1.body.total).toBe(n);
    expect(p2.body.total).toBe(n);
    const names = [...p1.body.items, ...p2.body.items].map((u: any) => u.username);
    expect(new Set(names).size).toBe(4);
    expect(names).toEqual(all.body.items.slice(0, 4).map((u: any) => u.username));

    const beyond = await call('GET', '/api/v1/users?page=999&pageSize=500', { auth: admin });
    expect(beyond.status).toBe(200);
    expect(beyond.body).toEqual({ items: [], total: n });

    const q = await call('GET', '/api/v1/users?q=caro', { auth: admin });
    expect(q.body.items.map((u: any) => u.username)).toEqual(['carol']);
    expect(q.body.total).toBe(1);
    const byEmail = await call('GET', '/api/v1/users?q=example.org', { auth: admin });
    expect(byEmail.body.items.map((u: any) => u.username)).toContain('carol');
    // LIKE wildcards are literal
    const pct = await call('GET', '/api/v1/users?q=%25', { auth: admin });
    expect(pct.body).toEqual({ items: [], total: 0 });
    const underscore = await call('GET', '/api/v1/users?q=_', { auth: admin });
    expect(underscore.body).toEqual({ items: [], total: 0 });
  });

  it('GET /users: anonymous 401, non-admin 403', async () => {
    expectErrorShape(await call('GET', '/api/v1/users'), 401);
    for (const who of [ALICE, DEV, GUEST, OUTSIDER]) expectErrorShape(await call('GET', '/api/v1/users', { auth: who }), 403);
  });

  it('GET /users/{username}: self and admin see it; others 403; anonymous 401; unknown 404', async () => {
    const self = await call('GET', '/api/v1/users/alice', { auth: ALICE });
    expect(self.status).toBe(200);
    expectUser(self.body, { username: 'alice', admin: false });
    const byAdmin = await call('GET', '/api/v1/users/alice', { auth: admin });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body).toEqual(self.body);
    expectErrorShape(await call('GET', '/api/v1/users/alice', { auth: OUTSIDER }), 403);
    expectErrorShape(await call('GET', '/api/v1/users/admin', { auth: DEV }), 403);
    // a non-admin cannot probe for user existence through this endpoint
    expectErrorShape(await call('GET', '/api/v1/users/no-such-user', { auth: DEV }), 403);
    expectErrorShape(await call('GET', '/api/v1/users/alice'), 401);
    expectErrorShape(await call('GET', '/api/v1/users/no-such-user', { auth: admin }), 404);
  });

  it('PATCH /users/{username} (admin): changes email/admin/disabled, writes user_update', async () => {
    await createUser('patchme');
    const r = await call('PATCH', '/api/v1/users/patchme', { auth: admin, body: { email: 'p@example.org' } });
    expect(r.status).toBe(200);
    expectUser(r.body, { username: 'patchme', email: 'p@example.org', admin: false, disabled: false });
    const row = expectAudit('user_update', 'patchme', 'admin');
    expect(row.detail ?? '').not.toContain('scrypt$');

    const promoted = await call('PATCH', '/api/v1/users/patchme', { auth: admin, body: { admin: true } });
    expect(promoted.body.admin).toBe(true);
    expect((await call('GET', '/api/v1/users', { auth: `patchme:${PW}` })).status).toBe(200);
    const demoted = await call('PATCH', '/api/v1/users/patchme', { auth: admin, body: { admin: false } });
    expect(demoted.body.admin).toBe(false);
    expectErrorShape(await call('GET', '/api/v1/users', { auth: `patchme:${PW}` }), 403);

    const cleared = await call('PATCH', '/api/v1/users/patchme', { auth: admin, body: { email: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.email).toBeNull();
    expect((await call('GET', '/api/v1/users/patchme', { auth: admin })).body).toEqual(cleared.body);
  });

  it('PATCH disabled:true locks the user out of the API at once; disabled:false lets them back', async () => {
    await createUser('tobedisabled');
    expect((await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` })).status).toBe(200); // now in the credential cache
    const r = await call('PATCH', '/api/v1/users/tobedisabled', { auth: admin, body: { disabled: true } });
    expect(r.status).toBe(200);
    expect(r.body.disabled).toBe(true);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` }), 401);
    expect((await call('PATCH', '/api/v1/users/tobedisabled', { auth: admin, body: { disabled: false } })).status).toBe(200);
    expect((await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` })).status).toBe(200);
  });

  it('PATCH self (non-admin): own email yes; own admin/disabled 403; other users 403; anonymous 401', async () => {
    const r = await call('PATCH', '/api/v1/users/carol', { auth: `carol:${PW}`, body: { email: 'carol2@example.org' } });
    expect(r.status).toBe(200);
    expect(r.body.email).toBe('carol2@example.org');
    expectAudit('user_update', 'carol', 'carol');

    await refused(403, () => call('PATCH', '/api/v1/users/carol', { auth: `carol:${PW}`, body: { admin: true } }));
    await refused(403, () => call('PATCH', '/api/v1/users/carol', { auth: `carol:${PW}`, body: { disabled: false } }));
    await refused(403, () => call('PATCH', '/api/v1/users/carol', { auth: `carol:${PW}`, body: { email: 'x@example.org', admin: true } }));
    await refused(403, () => call('PATCH', '/api/v1/users/alice', { auth: `carol:${PW}`, body: { email: 'evil@example.org' } }));
    await refused(403, () => call('PATCH', '/api/v1/users/admin', { auth: ALICE, body: { disabled: true } }));
    await refused(401, () => call('PATCH', '/api/v1/users/alice', { body: { email: 'evil@example.org' } }));
  });

  it('PATCH: the admin cannot disable or demote themselves (409), nothing changed', async () => {
    await refused(409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { disabled: true } }));
    await refused(409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { admin: false } }));
    await refused(409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { email: 'a@example.org', disabled: true } }));
    expect((await call('GET', '/api/v1/me', { auth: admin })).body).toEqual({ username: 'admin', admin: true, source: 'local' });
  });

  it('PATCH an unknown user: 404', async () => {
    await refused(404, () => call('PATCH', '/api/v1/users/no-such-user', { auth: admin, body: { email: 'x@example.org' } }));
  });

  it('PATCH with an invalid email: 400', async () => {
    await refused(400, () => call('PATCH', '/api/v1/users/carol', { auth: admin, body: { email: 'not-an-email' } }));
  });

  it('DELETE /users/{username}: anonymous 401, non-admin 403, self 409, unknown 404; nothing changed', async () => {
    await createUser('deleteme');
    await refused(401, () => call('DELETE', '/api/v1/users/deleteme'));
    for (const who of [ALICE, DEV, GUEST, OUTSIDER, `deleteme:${PW}`]) await refused(403, () => call('DELETE', '/api/v1/users/deleteme', { auth: who }));
    await refused(409, () => call('DELETE', '/api/v1/users/admin', { auth: admin }));
    await refused(404, () => call('DELETE', '/api/v1/users/no-such-user', { auth: admin }));
  });

  it('DELETE /users/{username} (admin): 204, gone, memberships dropped, credentials dead, user_delete audited', async () => {
    expect((await call('PUT', '/api/v1/projects/alpha/members/deleteme', { auth: ALICE, body: { role: 'guest' } })).status).toBe(200);
    expect((await call('GET', '/api/v1/me', { auth: `deleteme:${PW}` })).status).toBe(200);
    const r = await call('DELETE', '/api/v1/users/deleteme', { auth: admin });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', '/api/v1/users/deleteme', { auth: admin }), 404);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `deleteme:${PW}` }), 401);
    const m = await call('GET', '/api/v1/projects/alpha/members', { auth: admin });
    expect(m.body.map((x: any) => x.username)).not.toContain('deleteme');
    expectAudit('user_delete', 'deleteme', 'admin');
    expectErrorShape(await call('DELETE', '/api/v1/users/deleteme', { auth: admin }), 404);
  });

  it('a user deleted and re-created under the same name does not keep the old password', async () => {
    await createUser('reborn');
    expect((await call('GET', '/api/v1/me', { auth: `reborn:${PW}` })).status).toBe(200);
    expect((await call('DELETE', '/api/v1/users/reborn', { auth: admin })).status).toBe(204);
    expect((await call('POST', '/api/v1/users', { auth: admin, body: { username: 'reborn', password: 'other-password-2' } })).status).toBe(201);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `reborn:${PW}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: 'reborn:other-password-2' })).status).toBe(200);
  });

  it('no response of the users API and no audit row ever contains a password hash or a password', async () => {
    for (const path of ['/api/v1/users?pageSize=500', '/api/v1/users/admin', '/api/v1/users/alice']) {
      const r = await call('GET', path, { auth: admin });
      expect(JSON.stringify(r.body)).not.toMatch(/scrypt\$|passwordHash|password_hash/);
    }
    const rows = db().select().from(audit).all();
    for (const row of rows) {
      const s = JSON.stringify(row);
      expect(s).not.toContain('scrypt$');
      expect(s).not.toContain(PW);
      expect(s).not.toContain(ADMIN_PASSWORD);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('passwords', () => {
  const PWUSER = 'pwuser';
  const NEW1 = 'new-password-1';
  const NEW2 = 'new-password-2';

  beforeAll(async () => {
    await createUser(PWUSER);
  });

  it('self without oldPassword: 400, old password still works', async () => {
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` })).status).toBe(200);
    await refused(400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { newPassword: NEW1 } }));
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` })).status).toBe(200);
  });

  it('self with a wrong oldPassword: 403, old password still works', async () => {
    await refused(403, () =>
      call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: 'not-my-password', newPassword: NEW1 } }),
    );
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` })).status).toBe(200);
  });

  it('the admin changing their own password also needs oldPassword (400 without it)', async () => {
    await refused(400, () => call('PUT', '/api/v1/users/admin/password', { auth: admin, body: { newPassword: 'whatever-123' } }));
    await refused(403, () => call('PUT', '/api/v1/users/admin/password', { auth: admin, body: { oldPassword: 'nope-nope', newPassword: 'whatever-123' } }));
  });

  it("a non-admin cannot change another user's password (403), even with the right old one", async () => {
    await refused(403, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: ALICE, body: { newPassword: NEW1 } }));
    await refused(403, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: ALICE, body: { oldPassword: PW, newPassword: NEW1 } }));
    await refused(403, () => call('PUT', '/api/v1/users/admin/password', { auth: ALICE, body: { oldPassword: ADMIN_PASSWORD, newPassword: NEW1 } }));
  });

  it('anonymous: 401', async () => {
    await refused(401, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { body: { oldPassword: PW, newPassword: NEW1 } }));
  });

  it('a too short new password: 400', async () => {
    await refused(400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: 'short' } }));
    await refused(400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: '' } }));
  });

  // Like GET/PATCH/DELETE /users/{username}, a non-admin is refused before the lookup: 403 either way.
  it('a non-admin learns nothing about other users from this endpoint: unknown user 403 like a known one', async () => {
    const known = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: OUTSIDER, body: { newPassword: NEW1 } });
    const unknown = await call('PUT', '/api/v1/users/no-such-user/password', { auth: OUTSIDER, body: { newPassword: NEW1 } });
    expectErrorShape(known, 403);
    expectErrorShape(unknown, 403);
  });

  it('an unknown user (admin): 404', async () => {
    await refused(404, () => call('PUT', '/api/v1/users/no-such-user/password', { auth: admin, body: { newPassword: NEW1 } }));
  });

  it('self with the right oldPassword: 204; the old password stops working for Basic, the new one works', async () => {
    const r = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: NEW1 } });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${NEW1}` })).body).toEqual({ username: PWUSER, admin: false, source: 'local' });
    const row = expectAudit('user_update', PWUSER, PWUSER);
    expect(row.detail ?? '').not.toContain(NEW1);
  });

  it('the admin resets another user without oldPassword: 204; old stops working, new works', async () => {
    const r = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: admin, body: { newPassword: NEW2 } });
    expect(r.status).toBe(204);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${PWUSER}:${NEW1}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${NEW2}` })).status).toBe(200);
    expectAudit('user_update', PWUSER, 'admin');
  });
});

// ---------------------------------------------------------------------------------------------
describe('projects', () => {
  it('POST /projects: 201; the creator becomes its projectAdmin; project_create audited', async () => {
    const r = await call('POST', '/api/v1/projects', { auth: DEV, body: { name: 'gamma' } });
    expect(r.status).toBe(201);
    expectProject(r.body, { name: 'gamma', public: false, createdBy: 'dev1', role: 'projectAdmin', repositoryCount: 0 });
    const m = await call('GET', '/api/v1/projects/gamma/members', { auth: DEV });
    expect(m.status).toBe(200);
    expect(m.body).toEqual([{ username: 'dev1', role: 'projectAdmin' }]);
    const g = await call('GET', '/api/v1/projects/gamma', { auth: DEV });
    expectProject(g.body, { name: 'gamma', role: 'projectAdmin', repositoryCount: 0 });
    const row = expectAudit('project_create', 'gamma', 'dev1', 'gamma');
    expect(row.resourceType).toBe('project');
    // the creator can manage it: add a member
    expect((await call('PUT', '/api/v1/projects/gamma/members/outsider', { auth: DEV, body: { role: 'guest' } })).status).toBe(200);
  });

  it('POST /projects public:true makes an anonymously visible project', async () => {
    const r = await call('POST', '/api/v1/projects', { auth: ALICE, body: { name: 'open-house', public: true } });
    expect(r.status).toBe(201);
    expectProject(r.body, { name: 'open-house', public: true, createdBy: 'alice', role: 'projectAdmin' });
    const anon = await call('GET', '/api/v1/projects/open-house');
    expect(anon.status).toBe(200);
    expectProject(anon.body, { name: 'open-house', public: true, role: null });
    // Who belongs to a project is for its members: anonymous callers get 401, also when it is public.
    expectErrorShape(await call('GET', '/api/v1/projects/open-house/members'), 401);
    const members = await call('GET', '/api/v1/projects/open-house/members', { auth: ALICE });
    expect(members.status).toBe(200);
    expect(members.body).toEqual([{ username: 'alice', role: 'projectAdmin' }]);
  });

  it('POST /projects for an existing name: 409 (also for a private project of someone else), nothing changed', async () => {
    await refused(409, () => call('POST', '/api/v1/projects', { auth: ALICE, body: { name: 'alpha' } }));
    await refused(409, () => call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: 'alpha', public: true } }));
    await refused(409, () => call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: 'library' } }));
  });

  it('POST /projects anonymously: 401', async () => {
    await refused(401, () => call('POST', '/api/v1/projects', { body: { name: 'anonproj' } }));
  });

  it('GET /projects: admin sees all, others their own and public ones, anonymous public only', async () => {
    for (const [who, name] of [
      [admin, 'admin'],
      [ALICE, 'alice'],
      [DEV, 'dev1'],
      [GUEST, 'guest1'],
      [OUTSIDER, 'outsider'],
      [undefined, null],
    ] as const) {
      const r = await call('GET', '/api/v1/projects?pageSize=500', who ? { auth: who } : {});
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(['items', 'total']);
      const expected = visibleNames(name);
      expect(r.body.items.map((p: any) => p.name).sort()).toEqual([...expected].sort());
      expect(r.body.total).toBe(expected.length);
      for (const p of r.body.items) expectProject(p);
    }
    const all = await call('GET', '/api/v1/projects?pageSize=500', { auth: admin });
    expect(all.body.items.map((p: any) => p.name)).toEqual(expect.arrayContaining(['library', 'alpha', 'pubproj', 'gamma']));
    const outsider = await call('GET', '/api/v1/projects?pageSize=500', { auth: OUTSIDER });
    expect(outsider.body.items.map((p: any) => p.name)).not.toContain('alpha');
    expect(outsider.body.items.map((p: any) => p.name)).not.toContain('library');
    const anon = await call('GET', '/api/v1/projects?pageSize=500');
    expect(anon.body.items.every((p: any) => p.public === true)).toBe(true);
  });

  it("GET /projects shows the caller's role per project", async () => {
    const r = await call('GET', '/api/v1/projects?pageSize=500', { auth: GUEST });
    const byName = Object.fromEntries(r.body.items.map((p: any) => [p.name, p]));
    expect(byName.alpha.role).toBe('guest');
    expect(byName.pubproj.role).toBe('guest');
    expect(byName['open-house'].role).toBeNull();
    const d = await call('GET', '/api/v1/projects?pageSize=500', { auth: DEV });
    const dByName = Object.fromEntries(d.body.items.map((p: any) => [p.name, p]));
    expect(dByName.alpha.role).toBe('developer');
    expect(dByName.gamma.role).toBe('projectAdmin');
  });

  it('GET /projects: paging and q', async () => {
    const total = (await call('GET', '/api/v1/projects', { auth: admin })).body.total;
    expect(total).toBeGreaterThanOrEqual(4);
    const p1 = await call('GET', '/api/v1/projects?page=1&pageSize=1', { auth: admin });
    const p2 = await call('GET', '/api/v1/projects?page=2&pageSize=1', { auth: admin });
    expect(p1.body.items).toHaveLength(1);
    expect(p2.body.items).toHaveLength(1);
    expect(p1.body.total).toBe(total);
    expect(p1.body.items[0].name).not.toBe(p2.body.items[0].name);
    const q = await call('GET', '/api/v1/projects?q=alp', { auth: admin });
    expect(q.body.items.map((p: any) => p.name)).toEqual(['alpha']);
    expect(q.body.total).toBe(1);
    // a private project does not show up in an outsider's search either
    const hidden = await call('GET', '/api/v1/projects?q=alp', { auth: OUTSIDER });
    expect(hidden.body).toEqual({ items: [], total: 0 });
    const hiddenAnon = await call('GET', '/api/v1/projects?q=alp');
    expect(hiddenAnon.body).toEqual({ items: [], total: 0 });
  });

  it('GET /projects/{project}: members and admin see a private project; outsider and anonymous get 404', async () => {
    for (const [who, role] of [
      [ALICE, 'projectAdmin'],
      [DEV, 'developer'],
      [GUEST, 'guest'],
      [admin, null],
    ] as const) {
      const r = await call('GET', '/api/v1/projects/alpha', { auth: who });
      expect(r.status).toBe(200);
      expectProject(r.body, { name: 'alpha', public: false, createdBy: 'alice', role, repositoryCount: 0 });
    }
    const o = await call('GET', '/api/v1/projects/alpha', { auth: OUTSIDER });
    expectErrorShape(o, 404);
    const missing = await call('GET', '/api/v1/projects/does-not-exist', { auth: OUTSIDER });
    expectErrorShape(missing, 404);
    // a hidden project is indistinguishable from a missing one
    expect(o.body.error.code).toBe(missing.body.error.code);
    expect(o.body.error.message.replace('alpha', 'X')).toBe(missing.body.error.message.replace('does-not-exist', 'X'));
    expectErrorShape(await call('GET', '/api/v1/projects/alpha'), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/library', { auth: OUTSIDER }), 404);
  });

  it('GET /projects/{project}: a public project is visible to anonymous and outsiders', async () => {
    for (const who of [undefined, OUTSIDER]) {
      const r = await call('GET', '/api/v1/projects/pubproj', who ? { auth: who } : {});
      expect(r.status).toBe(200);
      expectProject(r.body, { name: 'pubproj', public: true, createdBy: 'alice', role: null });
    }
  });

  it('GET /projects/{project}/members: members and admins see [{username, role}]; outsider/anonymous 404 on private, 403/401 on public', async () => {
    const expected = [
      { username: 'alice', role: 'projectAdmin' },
      { username: 'dev1', role: 'developer' },
      { username: 'guest1', role: 'guest' },
    ];
    for (const who of [ALICE, DEV, GUEST, admin]) {
      const r = await call('GET', '/api/v1/projects/alpha/members', { auth: who });
      expect(r.status).toBe(200);
      expect(r.body).toEqual(expected);
    }
    expectErrorShape(await call('GET', '/api/v1/projects/alpha/members', { auth: OUTSIDER }), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/alpha/members'), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/nope/members', { auth: admin }), 404);
    const pub = await call('GET', '/api/v1/projects/pubproj/members', { auth: GUEST });
    expect(pub.status).toBe(200);
    expect(pub.body).toEqual(expected);
    expectErrorShape(await call('GET', '/api/v1/projects/pubproj/members'), 401);
    expectErrorShape(await call('GET', '/api/v1/projects/pubproj/members', { auth: OUTSIDER }), 403);
    expectErrorShape(await call('GET', '/api/v1/projects/pubproj/groups'), 401);
    expectErrorShape(await call('GET', '/api/v1/projects/pubproj/groups', { auth: OUTSIDER }), 403);
    expect((await call('GET', '/api/v1/projects/pubproj/groups', { auth: GUEST })).status).toBe(200);
  });

  it('PUT /projects/{project}/members/{username} (projectAdmin): 200 member, role change, member_set audited', async () => {
    await createUser('bob');
    const r = await call('PUT', '/api/v1/projects/alpha/members/bob', { auth: ALICE, body: { role: 'guest' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ username: 'bob', role: 'guest' });
    const row = expectAudit('member_set', 'bob', 'alice', 'alpha');
    expect(row.resourceType).toBe('member');
    expect(row.detail).toContain('guest');
    // bob now sees the private project with his role
    const seen = await call('GET', '/api/v1/projects/alpha', { auth: `bob:${PW}` });
    expect(seen.status).toBe(200);
    expect(seen.body.role).toBe('guest');

    const up = await call('PUT', '/api/v1/projects/alpha/members/bob', { auth: ALICE, body: { role: 'developer' } });
    expect(up.body).toEqual({ username: 'bob', role: 'developer' });
    expect((await call('GET', '/api/v1/projects/alpha/members', { auth: admin })).body).toContainEqual({ username: 'bob', role: 'developer' });
    expect(auditRows('member_set', 'bob').filter((x) => x.project === 'alpha').length).toBeGreaterThanOrEqual(2);

    // a system admin who is no member may manage too
    const byAdmin = await call('PUT', '/api/v1/projects/alpha/members/bob', { auth: admin, body: { role: 'guest' } });
    expect(byAdmin.status).toBe(200);
    expectAudit('member_set', 'bob', 'admin', 'alpha');
  });

  it('a projectAdmin may make another projectAdmin, who can then manage members', async () => {
    expect((await call('PUT', '/api/v1/projects/alpha/members/bob', { auth: ALICE, body: { role: 'projectAdmin' } })).status).toBe(200);
    expect((await call('PUT', '/api/v1/projects/alpha/members/carol', { auth: `bob:${PW}`, body: { role: 'guest' } })).status).toBe(200);
    expect((await call('DELETE', '/api/v1/projects/alpha/members/carol', { auth: `bob:${PW}` })).status).toBe(204);
    expect((await call('PUT', '/api/v1/projects/alpha/members/bob', { auth: ALICE, body: { role: 'guest' } })).status).toBe(200);
  });

  it('PUT member: developer/guest 403, outsider 404 on private, 403 on public, anonymous 401; nothing changed', async () => {
    for (const who of [DEV, GUEST, `bob:${PW}`]) {
      await refused(403, () => call('PUT', '/api/v1/projects/alpha/members/outsider', { auth: who, body: { role: 'guest' } }));
      await refused(403, () => call('PUT', '/api/v1/projects/alpha/members/guest1', { auth: who, body: { role: 'projectAdmin' } }));
    }
    // a developer may not promote themselves
    await refused(403, () => call('PUT', '/api/v1/projects/alpha/members/dev1', { auth: DEV, body: { role: 'projectAdmin' } }));
    await refused(404, () => call('PUT', '/api/v1/projects/alpha/members/outsider', { auth: OUTSIDER, body: { role: 'projectAdmin' } }));
    await refused(403, () => call('PUT', '/api/v1/projects/pubproj/members/outsider', { auth: OUTSIDER, body: { role: 'projectAdmin' } }));
    await refused(401, () => call('PUT', '/api/v1/projects/alpha/members/outsider', { body: { role: 'guest' } }));
    await refused(401, () => call('PUT', '/api/v1/projects/pubproj/members/outsider', { body: { role: 'guest' } }));
  });

  it('PUT member: unknown user or project 404', async () => {
    await refused(404, () => call('PUT', '/api/v1/projects/alpha/members/no-such-user', { auth: ALICE, body: { role: 'guest' } }));
    await refused(404, () => call('PUT', '/api/v1/projects/no-such-project/members/bob', { auth: admin, body: { role: 'guest' } }));
  });

  it('DELETE member: developer/guest 403, outsider 404, anonymous 401; nothing changed', async () => {
    for (const who of [DEV, GUEST]) {
      await refused(403, () => call('DELETE', '/api/v1/projects/alpha/members/bob', { auth: who }));
      await refused(403, () => call('DELETE', '/api/v1/projects/alpha/members/alice', { auth: who }));
      await refused(403, () => call('DELETE', '/api/v1/projects/pubproj/members/alice', { auth: who }));
    }
    await refused(404, () => call('DELETE', '/api/v1/projects/alpha/members/bob', { auth: OUTSIDER }));
    await refused(403, () => call('DELETE', '/api/v1/projects/pubproj/members/dev1', { auth: OUTSIDER }));
    await refused(401, () => call('DELETE', '/api/v1/projects/alpha/members/bob'));
  });

  it('DELETE member of someone who is not a member, or of an unknown user: 404', async () => {
    await refused(404, () => call('DELETE', '/api/v1/projects/alpha/members/outsider', { auth: ALICE }));
    await refused(404, () => call('DELETE', '/api/v1/projects/alpha/members/no-such-user', { auth: ALICE }));
  });

  it('DELETE member (projectAdmin): 204, member_remove audited, the removed user loses sight of the project', async () => {
    const r = await call('DELETE', '/api/v1/projects/alpha/members/bob', { auth: ALICE });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    const m = await call('GET', '/api/v1/projects/alpha/members', { auth: admin });
    expect(m.body.map((x: any) => x.username)).not.toContain('bob');
    const row = expectAudit('member_remove', 'bob', 'alice', 'alpha');
    expect(row.resourceType).toBe('member');
    expectErrorShape(await call('GET', '/api/v1/projects/alpha', { auth: `bob:${PW}` }), 404);
    expectErrorShape(await call('DELETE', '/api/v1/projects/alpha/members/bob', { auth: ALICE }), 404);
  });

  it('PATCH /projects/{project} (projectAdmin): 200, public toggled, project_update audited', async () => {
    expect((await call('POST', '/api/v1/projects', { auth: ALICE, body: { name: 'toggle' } })).status).toBe(201);
    const r = await call('PATCH', '/api/v1/projects/toggle', { auth: ALICE, body: { public: true } });
    expect(r.status).toBe(200);
    expectProject(r.body, { name: 'toggle', public: true });
    expectAudit('project_update', 'toggle', 'alice', 'toggle');
    expect((await call('GET', '/api/v1/projects/toggle')).status).toBe(200);
    const back = await call('PATCH', '/api/v1/projects/toggle', { auth: admin, body: { public: false } });
    expect(back.body.public).toBe(false);
    expectAudit('project_update', 'toggle', 'admin', 'toggle');
    expectErrorShape(await call('GET', '/api/v1/projects/toggle'), 404);
  });

  it('PATCH project: developer/guest 403, outsider 404 (private) / 403 (public), anonymous 401; nothing changed', async () => {
    for (const who of [DEV, GUEST]) {
      await refused(403, () => call('PATCH', '/api/v1/projects/alpha', { auth: who, body: { public: true } }));
      await refused(403, () => call('PATCH', '/api/v1/projects/pubproj', { auth: who, body: { public: false } }));
    }
    await refused(404, () => call('PATCH', '/api/v1/projects/alpha', { auth: OUTSIDER, body: { public: true } }));
    await refused(403, () => call('PATCH', '/api/v1/projects/pubproj', { auth: OUTSIDER, body: { public: false } }));
    await refused(401, () => call('PATCH', '/api/v1/projects/alpha', { body: { public: true } }));
    await refused(401, () => call('PATCH', '/api/v1/projects/pubproj', { body: { public: false } }));
    await refused(404, () => call('PATCH', '/api/v1/projects/no-such-project', { auth: admin, body: { public: true } }));
  });

  it('DELETE project: developer/guest 403, outsider 404 / 403, anonymous 401, the default project 409; nothing changed', async () => {
    for (const who of [DEV, GUEST]) {
      await refused(403, () => call('DELETE', '/api/v1/projects/alpha', { auth: who }));
      await refused(403, () => call('DELETE', '/api/v1/projects/pubproj', { auth: who }));
    }
    await refused(404, () => call('DELETE', '/api/v1/projects/alpha', { auth: OUTSIDER }));
    await refused(403, () => call('DELETE', '/api/v1/projects/pubproj', { auth: OUTSIDER }));
    await refused(401, () => call('DELETE', '/api/v1/projects/alpha'));
    await refused(401, () => call('DELETE', '/api/v1/projects/pubproj'));
    await refused(404, () => call('DELETE', '/api/v1/projects/no-such-project', { auth: admin }));
    await refused(409, () => call('DELETE', '/api/v1/projects/library', { auth: admin }));
  });

  it('DELETE project (projectAdmin): 204, gone with its members, project_delete audited, name reusable', async () => {
    expect((await call('PUT', '/api/v1/projects/toggle/members/dev1', { auth: ALICE, body: { role: 'developer' } })).status).toBe(200);
    const r = await call('DELETE', '/api/v1/projects/toggle', { auth: ALICE });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', '/api/v1/projects/toggle', { auth: admin }), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/toggle/members', { auth: admin }), 404);
    const gone = db().select().from(projects).where(eq(projects.name, 'toggle')).get();
    expect(gone).toBeUndefined();
    const row = expectAudit('project_delete', 'toggle', 'alice', 'toggle');
    expect(row.resourceType).toBe('project');
    expect((await call('GET', '/api/v1/projects?pageSize=500', { auth: DEV })).body.items.map((p: any) => p.name)).not.toContain('toggle');
    // re-created by someone else: a fresh project, dev1 is no longer a member
    const again = await call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: 'toggle' } });
    expect(again.status).toBe(201);
    expect((await call('GET', '/api/v1/projects/toggle/members', { auth: OUTSIDER })).body).toEqual([{ username: 'outsider', role: 'projectAdmin' }]);
    expectErrorShape(await call('GET', '/api/v1/projects/toggle', { auth: DEV }), 404);
    expect((await call('DELETE', '/api/v1/projects/toggle', { auth: admin })).status).toBe(204);
    expectAudit('project_delete', 'toggle', 'admin', 'toggle');
  });
});

// ---------------------------------------------------------------------------------------------
describe('bad input: 400 with {"error":{code,message}}, never 500, nothing changed', () => {
  const badProjectNames: [string, string][] = [
    ['uppercase', 'Alpha2'],
    ['all uppercase', 'UPPER'],
    ['dot-dot', '..'],
    ['dot-dot inside', 'a..b'],
    ['slash', 'a/b'],
    ['leading slash', '/alpha'],
    ['encoded slash', 'a%2Fb'],
    ['encoded dot-dot', '%2e%2e'],
    ['300 characters', 'x'.repeat(300)],
    ['301 characters', 'x'.repeat(301)],
    ['129 characters', 'x'.repeat(129)],
    ['empty', ''],
    ['space', 'a b'],
    ['leading dash', '-alpha'],
    ['trailing dot', 'alpha.'],
    ['non-ASCII', 'prøject'],
    ['NUL byte', 'a\u0000b'],
    ['newline', 'a\nb'],
  ];
  it.each(badProjectNames)('POST /projects with a bad name (%s): 400', async (_label, name) => {
    await refused(400, () => call('POST', '/api/v1/projects', { auth: ALICE, body: { name } }));
  });

  it('a 128-character lowercase name is accepted (the documented maximum)', async () => {
    const name = 'p'.repeat(128);
    const r = await call('POST', '/api/v1/projects', { auth: ALICE, body: { name } });
    expect(r.status).toBe(201);
    expect((await call('DELETE', `/api/v1/projects/${name}`, { auth: ALICE })).status).toBe(204);
  });

  const pathTricks: [string, string, string, string | undefined][] = [
    // [label, method, raw path, auth]
    ['uppercase of an existing project', 'GET', '/api/v1/projects/ALPHA', ALICE],
    ['encoded slash to reach members', 'GET', '/api/v1/projects/alpha%2Fmembers', OUTSIDER],
    ['encoded dot-dot', 'GET', '/api/v1/projects/%2e%2e', admin],
    ['encoded dot-dot and slash', 'GET', '/api/v1/projects/..%2Falpha', OUTSIDER],
    ['dot-dot from a public project into a private one', 'GET', '/api/v1/projects/pubproj/../alpha/members', OUTSIDER],
    ['encoded dot-dot from a public project into a private one', 'GET', '/api/v1/projects/pubproj/%2e%2e/alpha/members', OUTSIDER],
    ['double-encoded slash', 'GET', '/api/v1/projects/alpha%252Fmembers', OUTSIDER],
    ['301-character project', 'GET', `/api/v1/projects/${'x'.repeat(301)}`, admin],
    ['300-character project', 'GET', `/api/v1/projects/${'x'.repeat(300)}`, admin],
    ['NUL in project', 'GET', '/api/v1/projects/alpha%00', admin],
    ['bad percent-encoding', 'GET', '/api/v1/projects/%E0%A4%A', admin],
    ['delete with encoded slash', 'DELETE', '/api/v1/projects/alpha%2F', admin],
    ['delete with encoded slash suffix', 'DELETE', '/api/v1/projects/pubproj%2F..%2Falpha', ALICE],
    ['patch uppercase', 'PATCH', '/api/v1/projects/ALPHA', admin],
    ['member path escape', 'PUT', '/api/v1/projects/alpha/members/..%2F..%2Fusers%2Fadmin', ALICE],
    ['member with $', 'PUT', '/api/v1/projects/alpha/members/robot$alpha+x', ALICE],
    ['65-character member', 'PUT', `/api/v1/projects/alpha/members/${'u'.repeat(65)}`, ALICE],
    ['user path escape', 'DELETE', '/api/v1/users/alice%2F..%2Foutsider', admin],
    ['65-character user', 'GET', `/api/v1/users/${'u'.repeat(65)}`, admin],
    ['password of a dot-dot user', 'PUT', '/api/v1/users/%2e%2e/password', admin],
  ];
  it.each(pathTricks)('path trick (%s): 400 or 404', async (_label, method, path, auth) => {
    const body = method === 'PATCH' ? '{"public":true}' : method === 'PUT' ? JSON.stringify(path.includes('/password') ? { newPassword: 'x-password-1' } : { role: 'projectAdmin' }) : undefined;
    const r = await refusedAny([400, 404], () =>
      raw(method, path, { auth, body, headers: body ? { 'content-type': 'application/json' } : {} }),
    );
    // never a list of alpha's members through a trick
    expect(JSON.stringify(r.body)).not.toContain('projectAdmin');
  });

  it('a 301-character project in the path is a 400 (over the parameter limit)', async () => {
    await refused(400, () => call('GET', `/api/v1/projects/${'x'.repeat(301)}`, { auth: admin }));
  });

  const badUsernames: [string, string][] = [
    ['robot-like', 'robot$alpha+x'],
    ['robot-like, other case', 'Robot$x'],
    ['256 characters', 'u'.repeat(256)],
    ['empty', ''],
    ['colon', 'a:b'],
    ['NUL', 'a\u0000b'],
    ['tab', 'a\tb'],
    ['newline', 'a\nb'],
    ['DEL', 'a\u007fb'],
    ['C1 control', 'a\u0085b'],
    ['line separator', 'a\u2028b'],
    ['leading space', ' alice2'],
    ['trailing space', 'alice2 '],
    ['only spaces', '   '],
    ['reserved for anonymous callers in the audit log', 'anonymous'],
    ['reserved, other case', 'System'],
    ['reserved for the CLI', '(cli)'],
  ];
  it.each(badUsernames)('POST /users with a bad username (%s): 400', async (_label, username) => {
    await refused(400, () => call('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } }));
  });

  it('a 255-character username is accepted', async () => {
    const username = 'u'.repeat(255);
    expect((await call('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } })).status).toBe(201);
    expect((await call('GET', '/api/v1/me', { auth: `${username}:${PW}` })).body.username).toBe(username);
    expect((await call('DELETE', `/api/v1/users/${username}`, { auth: admin })).status).toBe(204);
  });

  // Names a directory or an htpasswd file spells as it likes: anything HTTP Basic can carry.
  const spelledNames = ["o'brien", 'jürgen', 'has space', 'bad$name', '.hidden', 'a/b', 'Zoë Ng', '李雷', '<b>x</b>&amp;'];
  it.each(spelledNames)('the username %j is accepted, signs in and is managed through the API', async (username) => {
    const made = await call('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.username).toBe(username);
    expect((await call('GET', '/api/v1/me', { auth: `${username}:${PW}` })).body.username).toBe(username);
    const path = `/api/v1/users/${encodeURIComponent(username)}`;
    expect((await call('GET', path, { auth: admin })).body.username).toBe(username);
    expect((await call('DELETE', path, { auth: admin })).status).toBe(204);
  });

  it('names are unique regardless of case, and sign in under any case', async () => {
    expect((await call('POST', '/api/v1/users', { auth: admin, body: { username: 'Mixed.Case', password: PW } })).status).toBe(201);
    for (const other of ['mixed.case', 'MIXED.CASE']) {
      const r = await refused(409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: other, password: PW } }));
      expect(r.body.error.code).toBe('conflict');
    }
    for (const spelled of ['mixed.case', 'MIXED.CASE', 'Mixed.Case'])
      expect((await call('GET', '/api/v1/me', { auth: `${spelled}:${PW}` })).body.username).toBe('Mixed.Case');
    expect((await call('GET', '/api/v1/users/MIXED.CASE', { auth: admin })).body.username).toBe('Mixed.Case');
    expect((await call('DELETE', '/api/v1/users/mixed.case', { auth: admin })).status).toBe(204);
    expect((await call('GET', '/api/v1/users/Mixed.Case', { auth: admin })).status).toBe(404);
  });

  const unknownFields: [string, string, string, unknown, string][] = [
    ['POST /users isRoot', 'POST', '/api/v1/users', { username: 'extra1', password: PW, isRoot: true }, admin],
    ['POST /users passwordHash', 'POST', '/api/v1/users', { username: 'extra2', password: PW, passwordHash: 'scrypt$1$1$1$a$b' }, admin],
    ['POST /users source', 'POST', '/api/v1/users', { username: 'extra3', password: PW, source: 'ldap' }, admin],
    ['PATCH /users passwordHash', 'PATCH', '/api/v1/users/alice', { passwordHash: 'x' }, admin],
    ['PATCH /users username', 'PATCH', '/api/v1/users/alice', { username: 'alice2' }, admin],
    ['PATCH /users password', 'PATCH', '/api/v1/users/alice', { password: 'new-password-9' }, ALICE],
    ['PUT password extra', 'PUT', '/api/v1/users/alice/password', { oldPassword: PW, newPassword: 'new-password-9', admin: true }, ALICE],
    ['POST /projects owner', 'POST', '/api/v1/projects', { name: 'extra-proj', owner: 'outsider' }, ALICE],
    ['PATCH /projects name', 'PATCH', '/api/v1/projects/alpha', { name: 'renamed' }, ALICE],
    ['PATCH /projects createdBy', 'PATCH', '/api/v1/projects/alpha', { public: true, createdBy: 'dev1' }, ALICE],
    ['PUT member extra', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: 'guest', admin: true }, ALICE],
  ];
  it.each(unknownFields)('unknown JSON field (%s): 400 naming the field', async (_label, method, path, body, auth) => {
    const r = await refused(400, () => call(method, path, { auth, body }));
    expect(r.body.error.message).toMatch(/unknown field|unrecognized/i);
  });

  const wrongTypes: [string, string, string, unknown, string][] = [
    ['public: "yes"', 'POST', '/api/v1/projects', { name: 'typed', public: 'yes' }, ALICE],
    ['public: 1', 'POST', '/api/v1/projects', { name: 'typed', public: 1 }, ALICE],
    ['name: 42', 'POST', '/api/v1/projects', { name: 42 }, ALICE],
    ['name: null', 'POST', '/api/v1/projects', { name: null }, ALICE],
    ['name missing', 'POST', '/api/v1/projects', { public: true }, ALICE],
    ['PATCH public: "yes"', 'PATCH', '/api/v1/projects/alpha', { public: 'yes' }, ALICE],
    ['PATCH public: null', 'PATCH', '/api/v1/projects/alpha', { public: null }, ALICE],
    ['admin: "true"', 'POST', '/api/v1/users', { username: 'typed', password: PW, admin: 'true' }, admin],
    ['password: number', 'POST', '/api/v1/users', { username: 'typed', password: 12345678 }, admin],
    ['username: array', 'POST', '/api/v1/users', { username: ['typed'], password: PW }, admin],
    ['email: number', 'POST', '/api/v1/users', { username: 'typed', password: PW, email: 5 }, admin],
    ['email: not an email', 'POST', '/api/v1/users', { username: 'typed', password: PW, email: 'nope' }, admin],
    ['PATCH disabled: "no"', 'PATCH', '/api/v1/users/alice', { disabled: 'no' }, admin],
    ['PATCH admin: 1', 'PATCH', '/api/v1/users/alice', { admin: 1 }, admin],
    ['newPassword: number', 'PUT', '/api/v1/users/alice/password', { newPassword: 123456789 }, admin],
    ['newPassword missing', 'PUT', '/api/v1/users/alice/password', {}, admin],
    ['role: "owner"', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: 'owner' }, ALICE],
    ['role: "ProjectAdmin"', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: 'ProjectAdmin' }, ALICE],
    ['role: "admin"', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: 'admin' }, ALICE],
    ['role: ""', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: '' }, ALICE],
    ['role: 1', 'PUT', '/api/v1/projects/alpha/members/outsider', { role: 1 }, ALICE],
    ['role missing', 'PUT', '/api/v1/projects/alpha/members/outsider', {}, ALICE],
  ];
  it.each(wrongTypes)('wrong type or value (%s): 400', async (_label, method, path, body, auth) => {
    await refused(400, () => call(method, path, { auth, body }));
  });

  const bodyEndpoints: [string, string, string][] = [
    ['POST', '/api/v1/users', admin],
    ['PATCH', '/api/v1/users/alice', admin],
    ['PUT', '/api/v1/users/alice/password', admin],
    ['POST', '/api/v1/projects', ALICE],
    ['PATCH', '/api/v1/projects/alpha', ALICE],
    ['PUT', '/api/v1/projects/alpha/members/outsider', ALICE],
  ];

  it.each(bodyEndpoints)('%s %s with invalid JSON text: 400', async (method, path, auth) => {
    for (const text of ['{"name":', "{'public': true}", '{"public": tru}', 'undefined', '\u0000']) {
      await refused(400, () => call(method, path, { auth, body: text, headers: { 'content-type': 'application/json' } }));
    }
  });

  it.each(bodyEndpoints)('%s %s with a JSON array, string, number or null body: 400', async (method, path, auth) => {
    for (const text of ['[{"name":"arr","public":true,"role":"guest","newPassword":"x-password-1","username":"arr","password":"x-password-1"}]', '[]', '"alpha"', '42', 'null']) {
      await refused(400, () => call(method, path, { auth, body: text, headers: { 'content-type': 'application/json' } }));
    }
  });

  it.each(bodyEndpoints)('%s %s with an empty JSON body: 400', async (method, path, auth) => {
    await refused(400, () => call(method, path, { auth, body: '', headers: { 'content-type': 'application/json' } }));
  });

  it('a 2 MB body: 413 with the error shape (with Content-Length and chunked)', async () => {
    const big = JSON.stringify({ name: 'bigproj', public: true, pad: 'x'.repeat(2 * 1024 * 1024) });
    const json = { 'content-type': 'application/json' };
    await refused(413, () => raw('POST', '/api/v1/projects', { auth: ALICE, body: big, headers: json }));
    await refused(413, () =>
      raw('POST', '/api/v1/users', { auth: admin, body: JSON.stringify({ username: 'biguser', password: 'x'.repeat(2 * 1024 * 1024) }), headers: json }),
    );
    await refused(413, () => raw('POST', '/api/v1/projects', { auth: ALICE, body: big, chunked: true, headers: json }));
    await refused(413, () => raw('PATCH', '/api/v1/projects/alpha', { auth: ALICE, body: big, chunked: true, headers: json }));
    // just under the limit is read and validated normally (unknown field -> 400, not 413)
    const almost = JSON.stringify({ name: 'bigproj', pad: 'x'.repeat(1000 * 1024) });
    await refused(400, () => raw('POST', '/api/v1/projects', { auth: ALICE, body: almost, headers: json }));
  });

  // HTTP/1.1: a 413 sent while the client is still uploading makes it see a reset. An oversized
  // body with a Content-Length (up to 8 MiB) is read and discarded first, so the 413 arrives and
  // the keep-alive connection stays usable for the next request.
  it('after a 413 the keep-alive connection stays usable', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = JSON.stringify({ name: 'bigproj', pad: 'x'.repeat(2 * 1024 * 1024) });
      for (let i = 0; i < 3; i++) {
        const r = await raw('POST', '/api/v1/projects', { auth: ALICE, body: big, headers: { 'content-type': 'application/json' }, agent });
        expectErrorShape(r, 413);
        expect(String(header(r, 'connection')).toLowerCase()).not.toBe('close');
        const next = await raw('GET', '/api/v1/me', { auth: ALICE, agent }).catch((err: Error) => ({ status: -1, body: String(err), headers: {} }) as Res);
        expect(next.status, `next request on the same connection: ${JSON.stringify(next.body)}`).toBe(200);
      }
    } finally {
      agent.destroy();
    }
  });

  it('a body with a non-JSON content type (or none): 400 or 415, nothing changed', async () => {
    const cases: [string, string, string, string, string | undefined][] = [
      ['POST', '/api/v1/projects', ALICE, '{"name":"ctype"}', 'text/plain'],
      ['POST', '/api/v1/projects', ALICE, 'name=ctype', 'application/x-www-form-urlencoded'],
      ['POST', '/api/v1/projects', ALICE, '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nctype\r\n--b--\r\n', 'multipart/form-data; boundary=b'],
      ['POST', '/api/v1/users', admin, `username=ctype&password=${PW}`, 'application/x-www-form-urlencoded'],
      ['PATCH', '/api/v1/users/alice', admin, '{"disabled":true}', 'text/plain'],
      ['PATCH', '/api/v1/users/alice', admin, 'disabled=true', 'application/x-www-form-urlencoded'],
      ['PUT', '/api/v1/users/alice/password', admin, '{"newPassword":"x-password-1"}', 'text/plain'],
      ['PATCH', '/api/v1/projects/alpha', ALICE, '{"public":true}', 'text/plain'],
      ['PATCH', '/api/v1/projects/alpha', ALICE, '<public>true</public>', 'application/xml'],
      ['PUT', '/api/v1/projects/alpha/members/outsider', ALICE, '{"role":"guest"}', 'text/plain'],
      ['POST', '/api/v1/projects', ALICE, '{"name":"ctype"}', undefined],
      ['PATCH', '/api/v1/projects/alpha', ALICE, '{"public":true}', undefined],
    ];
    for (const [method, path, auth, body, type] of cases) {
      const r = await refusedAny([400, 415], () => raw(method, path, { auth, body, headers: type ? { 'content-type': type } : {} }));
      expect(r.body.error.code.length).toBeGreaterThan(0);
    }
  });

  const pagingEndpoints: [string, string][] = [
    ['/api/v1/users', admin],
    ['/api/v1/projects', ALICE],
  ];
  const badPaging = ['page=0', 'pageSize=501', 'page=abc', 'pageSize=0', 'page=-1', 'page=1.5', 'pageSize=abc', 'pageSize=-5', 'page=', 'page=1e400', `q=${'q'.repeat(129)}`];
  for (const [path, auth] of pagingEndpoints)
    it.each(badPaging)(`GET ${path}?%s: 400`, async (query) => {
      const r = await call('GET', `${path}?${query}`, { auth });
      expectErrorShape(r, 400);
    });

  it.each(pagingEndpoints)('GET %s?pageSize=500 (the maximum) is fine', async (path, auth) => {
    const r = await call('GET', `${path}?page=1&pageSize=500`, { auth });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['items', 'total']);
  });

  it('anonymous GET /projects with bad paging is a 400 too', async () => {
    expectErrorShape(await call('GET', '/api/v1/projects?page=0'), 400);
  });

  it('an unknown /api/v1 endpoint is a 404 with the error shape', async () => {
    expectErrorShape(await call('GET', '/api/v1/nope', { auth: admin }), 404);
    expectErrorShape(await call('POST', '/api/v1/projects/alpha', { auth: admin, body: {} }), 404);
  });
});

// ---------------------------------------------------------------------------------------------
describe('concurrent duplicates', () => {
  it('parallel POST /users of one name: exactly one 201, the rest 409, never 500', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'racer', password: PW } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect(db().select().from(users).where(eq(users.username, 'racer')).all()).toHaveLength(1);
    expect(auditRows('user_create', 'racer')).toHaveLength(1);
  });

  it('parallel POST /projects of one name by different users: exactly one 201, one projectAdmin', async () => {
    const who = [ALICE, DEV, GUEST, OUTSIDER, `carol:${PW}`, admin];
    const results = await Promise.all(who.map((auth) => call('POST', '/api/v1/projects', { auth, body: { name: 'race-proj' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 201)!.body.createdBy;
    expect((await call('GET', '/api/v1/projects/race-proj/members', { auth: admin })).body).toEqual([{ username: winner, role: 'projectAdmin' }]);
    expect(auditRows('project_create', 'race-proj')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
describe('requests a browser sends for another site', () => {
  it('a state-changing request marked cross-site is refused before credentials are looked at, even with valid Basic credentials', async () => {
    const host = new URL(w.url).host;
    const before = auditRows('user_create').length;
    const attempts: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: 'not a url' },
    ];
    for (const headers of attempts) {
      const r = await call('POST', '/api/v1/users', { auth: admin, headers, body: { username: 'csrf-victim', password: PW } });
      expectErrorShape(r, 403);
    }
    expect(auditRows('user_create').length).toBe(before);
    expect((await call('GET', '/api/v1/users/csrf-victim', { auth: admin })).status).toBe(404);
    // Reads are not affected, nor are same-origin writes or scripts that send neither header.
    expect((await call('GET', '/api/v1/users', { auth: admin, headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
    const sameOrigin = await call('POST', '/api/v1/users', { auth: admin, headers: { origin: `http://${host}` }, body: { username: 'csrf-ok-1', password: PW } });
    expect(sameOrigin.status).toBe(201);
    const fetchSite = await call('POST', '/api/v1/users', { auth: admin, headers: { 'sec-fetch-site': 'same-origin' }, body: { username: 'csrf-ok-2', password: PW } });
    expect(fetchSite.status).toBe(201);
    for (const u of ['csrf-ok-1', 'csrf-ok-2']) expect((await call('DELETE', `/api/v1/users/${u}`, { auth: admin })).status).toBe(204);
  });

  it('API answers are never cached: Cache-Control no-store, also on the one answer that carries a new secret', async () => {
    const created = await call('POST', '/api/v1/users/alice/tokens', { auth: ALICE, body: { name: 'nocache' } });
    expect(created.status).toBe(201);
    expect(header(created, 'cache-control')).toBe('no-store');
    expect(header(await call('GET', '/api/v1/projects', { auth: ALICE }), 'cache-control')).toBe('no-store');
    expect((await call('DELETE', '/api/v1/users/alice/tokens/nocache', { auth: ALICE })).status).toBe(204);
  });
});

// ---------------------------------------------------------------------------------------------
describe('login throttling', () => {
  const NAME = 'throttled';

  it('after 10 failed Basic logins the 11th attempt, even with the right password, gets 429 with Retry-After', async () => {
    await createUser(NAME);
    expect((await call('GET', '/api/v1/me', { auth: `${NAME}:${PW}` })).status).toBe(200);
    const firstId = db().select({ id: audit.id }).from(audit).orderBy(desc(audit.id)).limit(1).get()!.id;

    for (let i = 1; i <= 10; i++) {
      // a spoofed X-Forwarded-For must not become the audited source IP (trustProxy is off)
      const r = await call('GET', '/api/v1/me', { auth: `${NAME}:wrong-${i}`, headers: { 'x-forwarded-for': '203.0.113.9' } });
      expectErrorShape(r, 401);
    }
    const locked = await call('GET', '/api/v1/me', { auth: `${NAME}:${PW}` });
    expectErrorShape(locked, 429);
    const retryAfter = Number(locked.headers instanceof Headers ? locked.headers.get('retry-after') : NaN);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(w.wharf.deps.config.auth.lockoutSeconds);

    // the lockout holds on other endpoints too, also for anonymous-capable ones
    expectErrorShape(await call('GET', '/api/v1/projects', { auth: `${NAME}:${PW}` }), 429);

    const rows = db()
      .select()
      .from(audit)
      .where(and(eq(audit.action, 'login_failed'), eq(audit.resource, NAME)))
      .orderBy(asc(audit.id))
      .all()
      .filter((r) => r.id > firstId);
    // Repeats from one address within a minute fold into one row that counts them.
    const failures = rows.filter((r) => r.outcome === 'failure');
    expect(failures.reduce((n, r) => n + r.count, 0)).toBe(10);
    for (const row of failures) {
      expect(row.username).toBe(NAME);
      expect(row.resourceType).toBe('user');
      expect(row.sourceIp).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
      expect(row.sourceIp).not.toBe('203.0.113.9');
      expect(JSON.stringify(row)).not.toContain('wrong-');
    }
    // the refused attempts while locked out are audited too
    expect(rows.filter((r) => r.outcome !== 'failure' && r.outcome !== 'success').length).toBeGreaterThanOrEqual(1);
  });

  it('the lockout of one name does not affect other users', async () => {
    expect((await call('GET', '/api/v1/me', { auth: ALICE })).status).toBe(200);
    expect((await call('GET', '/api/v1/me', { auth: admin })).status).toBe(200);
  });

  it('the locked-out user cannot change anything either', async () => {
    await refused(429, () => call('PATCH', `/api/v1/users/${NAME}`, { auth: `${NAME}:${PW}`, body: { email: 't@example.org' } }));
    await refused(429, () => call('POST', '/api/v1/projects', { auth: `${NAME}:${PW}`, body: { name: 'throttled-proj' } }));
  });

  it("the lockout guards passwords only: anyone can lock a name out, so the name's personal access tokens keep working", async () => {
    const user = w.wharf.deps.db.select().from(users).where(eq(users.username, NAME)).get()!;
    const principal = { kind: 'user' as const, id: user.id, username: NAME, admin: false, source: 'local', via: 'password' as const };
    const { secret } = createPersonalToken(db(), w.wharf.deps.clock, principal, NAME, { name: 'ci' }, { username: NAME });
    const me = await call('GET', '/api/v1/me', { auth: `${NAME}:${secret}` });
    expect(me.status).toBe(200);
    expect((await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: `Basic ${Buffer.from(`${NAME}:${secret}`).toString('base64')}` } })).status).toBe(200);
    // A token's success does not lift the password lockout, and a wrong token still meets it.
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${NAME}:${PW}` }), 429);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${NAME}:wpat_${'x'.repeat(43)}` }), 429);
  });
});

// ---------------------------------------------------------------------------------------------
describe('audit trail of state changes', () => {
  it('has user_create, user_update, user_delete, project_create, project_update, project_delete, member_set, member_remove rows with actor and resource', () => {
    expectAudit('user_create', 'alice', 'admin');
    expectAudit('user_create', 'bob', 'admin');
    expectAudit('user_update', 'patchme', 'admin');
    expectAudit('user_delete', 'deleteme', 'admin');
    expectAudit('project_create', 'alpha', 'alice', 'alpha');
    expectAudit('project_create', 'gamma', 'dev1', 'gamma');
    expectAudit('project_update', 'toggle', 'alice', 'toggle');
    expectAudit('project_delete', 'toggle', 'alice', 'toggle');
    expectAudit('member_set', 'dev1', 'alice', 'alpha');
    expectAudit('member_set', 'guest1', 'alice', 'pubproj');
    expectAudit('member_remove', 'bob', 'alice', 'alpha');
    for (const row of db().select().from(audit).all()) {
      expect(row.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(row.username.length).toBeGreaterThan(0);
    }
  });

  it('no refused request left a state-change audit row by a non-authorised actor', () => {
    const rows = db()
      .select()
      .from(audit)
      .where(notInArray(audit.action, ['login', 'login_failed', 'token_denied']))
      .all();
    // The one row of `throttled` is its own token, created directly in the service for the lockout test.
    for (const row of rows.filter((r) => !(r.username === 'throttled' && r.action === 'token_create' && r.resource === 'throttled/ci'))) {
      expect(['guest1', 'anonymous', 'throttled']).not.toContain(row.username);
      if (row.project === 'alpha' || row.project === 'pubproj') expect(['alice', 'admin', 'bob']).toContain(row.username);
    }
  });
});
