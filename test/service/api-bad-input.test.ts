import { describe, expect, it } from 'vitest';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, CAST_PASSWORD as PW, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * Bad input to /api/v1 in-process: names, unknown fields, wrong types, bodies that are not a JSON
 * object, paging. Always 400 with {"error":{code,message}}, never 500, nothing changed. Paths that
 * name `alpha` get a project of alice's made for the test.
 */

const suite = inProcessSuite('wharf-api-bad-input-');
const { call } = suite;
const { projectAdmin: ALICE } = CAST;

// The tables below are written before any project exists; the placeholder becomes a fresh project of alice's.
const ALPHA = '{alpha}';

/** `path` with the placeholder replaced by a new private project of alice's. */
async function withAlpha(path: string): Promise<string> {
  if (!path.includes(ALPHA)) return path;
  const alpha = uniqueName('alpha');
  const r = await call('POST', '/api/v1/projects', { auth: ALICE, body: { name: alpha } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return path.replace(ALPHA, alpha);
}

describe('names', () => {
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
    await refused(suite.api, 400, () => call('POST', '/api/v1/projects', { auth: ALICE, body: { name } }));
  });

  it('a 128-character lowercase name is accepted (the documented maximum)', async () => {
    const name = 'p'.repeat(128);
    const r = await call('POST', '/api/v1/projects', { auth: ALICE, body: { name } });
    expect(r.status).toBe(201);
    expect((await call('DELETE', `/api/v1/projects/${name}`, { auth: ALICE })).status).toBe(204);
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
    await refused(suite.api, 400, () => call('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } }));
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
      const r = await refused(suite.api, 409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: other, password: PW } }));
      expect(r.body.error.code).toBe('conflict');
    }
    for (const spelled of ['mixed.case', 'MIXED.CASE', 'Mixed.Case'])
      expect((await call('GET', '/api/v1/me', { auth: `${spelled}:${PW}` })).body.username).toBe('Mixed.Case');
    expect((await call('GET', '/api/v1/users/MIXED.CASE', { auth: admin })).body.username).toBe('Mixed.Case');
    expect((await call('DELETE', '/api/v1/users/mixed.case', { auth: admin })).status).toBe(204);
    expect((await call('GET', '/api/v1/users/Mixed.Case', { auth: admin })).status).toBe(404);
  });
});

describe('bodies', () => {
  // Credentials are looked up when the test runs: the cast does not exist yet while the table is built.
  const who = (role: 'admin' | 'alice') => (role === 'admin' ? admin : ALICE);

  const unknownFields: [string, string, string, unknown, 'admin' | 'alice'][] = [
    ['POST /users isRoot', 'POST', '/api/v1/users', { username: 'extra1', password: PW, isRoot: true }, 'admin'],
    ['POST /users passwordHash', 'POST', '/api/v1/users', { username: 'extra2', password: PW, passwordHash: 'scrypt$1$1$1$a$b' }, 'admin'],
    ['POST /users source', 'POST', '/api/v1/users', { username: 'extra3', password: PW, source: 'ldap' }, 'admin'],
    ['PATCH /users passwordHash', 'PATCH', '/api/v1/users/alice', { passwordHash: 'x' }, 'admin'],
    ['PATCH /users username', 'PATCH', '/api/v1/users/alice', { username: 'alice2' }, 'admin'],
    ['PATCH /users password', 'PATCH', '/api/v1/users/alice', { password: 'new-password-9' }, 'alice'],
    ['PUT password extra', 'PUT', '/api/v1/users/alice/password', { oldPassword: PW, newPassword: 'new-password-9', admin: true }, 'alice'],
    ['POST /projects owner', 'POST', '/api/v1/projects', { name: 'extra-proj', owner: 'outsider' }, 'alice'],
    ['PATCH /projects name', 'PATCH', `/api/v1/projects/${ALPHA}`, { name: 'renamed' }, 'alice'],
    ['PATCH /projects createdBy', 'PATCH', `/api/v1/projects/${ALPHA}`, { public: true, createdBy: 'dev1' }, 'alice'],
    ['PUT member extra', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: 'guest', admin: true }, 'alice'],
  ];
  it.each(unknownFields)('unknown JSON field (%s): 400 naming the field', async (_label, method, template, body, role) => {
    const path = await withAlpha(template);
    const r = await refused(suite.api, 400, () => call(method, path, { auth: who(role), body }));
    expect(r.body.error.message).toMatch(/unknown field|unrecognized/i);
  });

  const wrongTypes: [string, string, string, unknown, 'admin' | 'alice'][] = [
    ['public: "yes"', 'POST', '/api/v1/projects', { name: 'typed', public: 'yes' }, 'alice'],
    ['public: 1', 'POST', '/api/v1/projects', { name: 'typed', public: 1 }, 'alice'],
    ['name: 42', 'POST', '/api/v1/projects', { name: 42 }, 'alice'],
    ['name: null', 'POST', '/api/v1/projects', { name: null }, 'alice'],
    ['name missing', 'POST', '/api/v1/projects', { public: true }, 'alice'],
    ['PATCH public: "yes"', 'PATCH', `/api/v1/projects/${ALPHA}`, { public: 'yes' }, 'alice'],
    ['PATCH public: null', 'PATCH', `/api/v1/projects/${ALPHA}`, { public: null }, 'alice'],
    ['admin: "true"', 'POST', '/api/v1/users', { username: 'typed', password: PW, admin: 'true' }, 'admin'],
    ['password: number', 'POST', '/api/v1/users', { username: 'typed', password: 12345678 }, 'admin'],
    ['username: array', 'POST', '/api/v1/users', { username: ['typed'], password: PW }, 'admin'],
    ['email: number', 'POST', '/api/v1/users', { username: 'typed', password: PW, email: 5 }, 'admin'],
    ['email: not an email', 'POST', '/api/v1/users', { username: 'typed', password: PW, email: 'nope' }, 'admin'],
    ['PATCH disabled: "no"', 'PATCH', '/api/v1/users/alice', { disabled: 'no' }, 'admin'],
    ['PATCH admin: 1', 'PATCH', '/api/v1/users/alice', { admin: 1 }, 'admin'],
    ['newPassword: number', 'PUT', '/api/v1/users/alice/password', { newPassword: 123456789 }, 'admin'],
    ['newPassword missing', 'PUT', '/api/v1/users/alice/password', {}, 'admin'],
    ['role: "owner"', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: 'owner' }, 'alice'],
    ['role: "ProjectAdmin"', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: 'ProjectAdmin' }, 'alice'],
    ['role: "admin"', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: 'admin' }, 'alice'],
    ['role: ""', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: '' }, 'alice'],
    ['role: 1', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, { role: 1 }, 'alice'],
    ['role missing', 'PUT', `/api/v1/projects/${ALPHA}/members/outsider`, {}, 'alice'],
  ];
  it.each(wrongTypes)('wrong type or value (%s): 400', async (_label, method, template, body, role) => {
    const path = await withAlpha(template);
    await refused(suite.api, 400, () => call(method, path, { auth: who(role), body }));
  });

  const bodyEndpoints: [string, string, 'admin' | 'alice'][] = [
    ['POST', '/api/v1/users', 'admin'],
    ['PATCH', '/api/v1/users/alice', 'admin'],
    ['PUT', '/api/v1/users/alice/password', 'admin'],
    ['POST', '/api/v1/projects', 'alice'],
    ['PATCH', `/api/v1/projects/${ALPHA}`, 'alice'],
    ['PUT', `/api/v1/projects/${ALPHA}/members/outsider`, 'alice'],
  ];

  it.each(bodyEndpoints)('%s %s with invalid JSON text: 400', async (method, template, role) => {
    const path = await withAlpha(template);
    for (const text of ['{"name":', "{'public': true}", '{"public": tru}', 'undefined', '\u0000']) {
      await refused(suite.api, 400, () => call(method, path, { auth: who(role), body: text, headers: { 'content-type': 'application/json' } }));
    }
  });

  it.each(bodyEndpoints)('%s %s with a JSON array, string, number or null body: 400', async (method, template, role) => {
    const path = await withAlpha(template);
    for (const text of ['[{"name":"arr","public":true,"role":"guest","newPassword":"x-password-1","username":"arr","password":"x-password-1"}]', '[]', '"alpha"', '42', 'null']) {
      await refused(suite.api, 400, () => call(method, path, { auth: who(role), body: text, headers: { 'content-type': 'application/json' } }));
    }
  });

  it.each(bodyEndpoints)('%s %s with an empty JSON body: 400', async (method, template, role) => {
    const path = await withAlpha(template);
    await refused(suite.api, 400, () => call(method, path, { auth: who(role), body: '', headers: { 'content-type': 'application/json' } }));
  });
});

describe('paging and unknown endpoints', () => {
  const pagingEndpoints: [string, 'admin' | 'alice'][] = [
    ['/api/v1/users', 'admin'],
    ['/api/v1/projects', 'alice'],
  ];
  const who = (role: 'admin' | 'alice') => (role === 'admin' ? admin : ALICE);
  const badPaging = ['page=0', 'pageSize=501', 'page=abc', 'pageSize=0', 'page=-1', 'page=1.5', 'pageSize=abc', 'pageSize=-5', 'page=', 'page=1e400', `q=${'q'.repeat(129)}`];
  for (const [path, role] of pagingEndpoints)
    it.each(badPaging)(`GET ${path}?%s: 400`, async (query) => {
      const r = await call('GET', `${path}?${query}`, { auth: who(role) });
      expectErrorShape(r, 400);
    });

  it.each(pagingEndpoints)('GET %s?pageSize=500 (the maximum) is fine', async (path, role) => {
    const r = await call('GET', `${path}?page=1&pageSize=500`, { auth: who(role) });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['items', 'total']);
  });

  it('anonymous GET /projects with bad paging is a 400 too', async () => {
    expectErrorShape(await call('GET', '/api/v1/projects?page=0'), 400);
  });

  it('an unknown /api/v1 endpoint is a 404 with the error shape', async () => {
    const path = await withAlpha(`/api/v1/projects/${ALPHA}`);
    expectErrorShape(await call('GET', '/api/v1/nope', { auth: admin }), 404);
    expectErrorShape(await call('POST', path, { auth: admin, body: {} }), 404);
  });
});
