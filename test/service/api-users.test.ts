import { count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, users } from '../support/tables';
import { expectUser } from '../support/api-shapes';
import { auditRows, expectAudit } from '../support/audit-trail';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, arrangeProject, CAST_PASSWORD as PW, createUser, expectRoles, uniqueName } from '../support/role-matrix';
import { admin, ADMIN_PASSWORD } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * /api/v1/users in-process (no registry is asked): create, list, read, change and delete, who may
 * do each (401/403/404/409 and nothing changed after a refusal), audit rows and no password hash
 * in any answer. Each test makes the users it changes; the cast (alice, dev1, guest1, outsider) only asks.
 */

const suite = inProcessSuite('wharf-api-users-');
const { call } = suite;
const db = () => suite.api.deps.db;
const { projectAdmin: ALICE, developer: DEV, guest: GUEST, outsider: OUTSIDER } = CAST;

describe('creating users', () => {
  it('POST /users (admin): 201 with the user, no hash, and a user_create audit row', async () => {
    const r = await createUser(suite.api, 'carol', { email: 'carol@example.org' });
    expectUser(r.body, { username: 'carol', email: 'carol@example.org', admin: false, disabled: false, source: 'local', lastLoginAt: null });
    await expectAudit(suite.api, 'user_create', 'carol', 'admin');
    // the new user can log in with the password given
    expect((await call('GET', '/api/v1/me', { auth: `carol:${PW}` })).body).toEqual({ username: 'carol', admin: false, source: 'local' });
    // the stored hash is scrypt and never the password itself
    const row = (await firstRow(db().select().from(users).where(eq(users.username, 'carol'))))!;
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
    const r = await createUser(suite.api, 'admin2', { admin: true });
    expectUser(r.body, { username: 'admin2', admin: true, email: null });
    expect((await call('GET', '/api/v1/me', { auth: `admin2:${PW}` })).body.admin).toBe(true);
    expect((await call('GET', '/api/v1/users', { auth: `admin2:${PW}` })).status).toBe(200);
  });

  it('POST /users with a duplicate username: 409, nothing changed', async () => {
    await createUser(suite.api, 'taken');
    await refused(suite.api, 409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'taken', password: 'another-password' } }));
    await refused(suite.api, 409, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'admin', password: 'another-password', admin: false } }));
    // the original password of the first one still works
    expect((await call('GET', '/api/v1/me', { auth: `taken:${PW}` })).status).toBe(200);
  });

  it('POST /users: anonymous 401, non-admin 403, nothing created', async () => {
    const team = await arrangeProject(suite.api, uniqueName('team'));
    await expectRoles(suite.api, team, { anonymous: 401, robot: 403, outsider: 403, guest: 403, developer: 403, projectAdmin: 403 }, (auth, role) =>
      call('POST', '/api/v1/users', { auth, body: { username: 'sneaky', password: PW, ...(role === 'anonymous' ? {} : { admin: true }) } }),
    );
    expect((await firstRow(db().select().from(users).where(eq(users.username, 'sneaky'))))).toBeUndefined();
  });

  it('POST /users with a too short password: 400', async () => {
    await refused(suite.api, 400, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'shorty', password: 'short' } }));
  });

  it('parallel POST /users of one name: exactly one 201, the rest 409, never 500', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/api/v1/users', { auth: admin, body: { username: 'racer', password: PW } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect((await db().select().from(users).where(eq(users.username, 'racer')))).toHaveLength(1);
    expect((await auditRows(suite.api, 'user_create', 'racer'))).toHaveLength(1);
  });
});

describe('listing and reading users', () => {
  it('GET /users (admin): {items,total}, paged, searchable, no hashes', async () => {
    const listed = uniqueName('listed');
    await createUser(suite.api, listed, { email: `${listed}@example.org` });
    const all = await call('GET', '/api/v1/users', { auth: admin });
    expect(all.status).toBe(200);
    expect(Object.keys(all.body).sort()).toEqual(['items', 'total']);
    const n = (await firstRow(db().select({ n: count() }).from(users)))!.n;
    expect(all.body.total).toBe(n);
    expect(all.body.items).toHaveLength(Math.min(n, 50));
    for (const u of all.body.items) expectUser(u);
    expect(all.body.items.map((u: any) => u.username)).toEqual(expect.arrayContaining(['admin', 'alice', listed]));

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

    const q = await call('GET', `/api/v1/users?q=${listed.slice(0, -1)}`, { auth: admin });
    expect(q.body.items.map((u: any) => u.username)).toEqual([listed]);
    expect(q.body.total).toBe(1);
    const byEmail = await call('GET', '/api/v1/users?q=example.org', { auth: admin });
    expect(byEmail.body.items.map((u: any) => u.username)).toContain(listed);
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

  it('no response of the users API and no audit row ever contains a password hash or a password', async () => {
    for (const path of ['/api/v1/users?pageSize=500', '/api/v1/users/admin', '/api/v1/users/alice']) {
      const r = await call('GET', path, { auth: admin });
      expect(JSON.stringify(r.body)).not.toMatch(/scrypt\$|passwordHash|password_hash/);
    }
    const rows = await db().select().from(audit);
    for (const row of rows) {
      const s = JSON.stringify(row);
      expect(s).not.toContain('scrypt$');
      expect(s).not.toContain(PW);
      expect(s).not.toContain(ADMIN_PASSWORD);
    }
  });
});

describe('changing users', () => {
  it('PATCH /users/{username} (admin): changes email/admin/disabled, writes user_update', async () => {
    await createUser(suite.api, 'patchme');
    const r = await call('PATCH', '/api/v1/users/patchme', { auth: admin, body: { email: 'p@example.org' } });
    expect(r.status).toBe(200);
    expectUser(r.body, { username: 'patchme', email: 'p@example.org', admin: false, disabled: false });
    const row = await expectAudit(suite.api, 'user_update', 'patchme', 'admin');
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
    await createUser(suite.api, 'tobedisabled');
    expect((await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` })).status).toBe(200); // now in the credential cache
    const r = await call('PATCH', '/api/v1/users/tobedisabled', { auth: admin, body: { disabled: true } });
    expect(r.status).toBe(200);
    expect(r.body.disabled).toBe(true);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` }), 401);
    expect((await call('PATCH', '/api/v1/users/tobedisabled', { auth: admin, body: { disabled: false } })).status).toBe(200);
    expect((await call('GET', '/api/v1/me', { auth: `tobedisabled:${PW}` })).status).toBe(200);
  });

  it('PATCH self (non-admin): own email yes; own admin/disabled 403; other users 403; anonymous 401', async () => {
    await createUser(suite.api, 'selfish', { email: 'selfish@example.org' });
    const SELF = `selfish:${PW}`;
    const r = await call('PATCH', '/api/v1/users/selfish', { auth: SELF, body: { email: 'selfish2@example.org' } });
    expect(r.status).toBe(200);
    expect(r.body.email).toBe('selfish2@example.org');
    await expectAudit(suite.api, 'user_update', 'selfish', 'selfish');

    await refused(suite.api, 403, () => call('PATCH', '/api/v1/users/selfish', { auth: SELF, body: { admin: true } }));
    await refused(suite.api, 403, () => call('PATCH', '/api/v1/users/selfish', { auth: SELF, body: { disabled: false } }));
    await refused(suite.api, 403, () => call('PATCH', '/api/v1/users/selfish', { auth: SELF, body: { email: 'x@example.org', admin: true } }));
    await refused(suite.api, 403, () => call('PATCH', '/api/v1/users/alice', { auth: SELF, body: { email: 'evil@example.org' } }));
    await refused(suite.api, 403, () => call('PATCH', '/api/v1/users/admin', { auth: ALICE, body: { disabled: true } }));
    await refused(suite.api, 401, () => call('PATCH', '/api/v1/users/alice', { body: { email: 'evil@example.org' } }));
  });

  it('PATCH: the admin cannot disable or demote themselves (409), nothing changed', async () => {
    await refused(suite.api, 409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { disabled: true } }));
    await refused(suite.api, 409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { admin: false } }));
    await refused(suite.api, 409, () => call('PATCH', '/api/v1/users/admin', { auth: admin, body: { email: 'a@example.org', disabled: true } }));
    expect((await call('GET', '/api/v1/me', { auth: admin })).body).toEqual({ username: 'admin', admin: true, source: 'local' });
  });

  it('PATCH an unknown user: 404', async () => {
    await refused(suite.api, 404, () => call('PATCH', '/api/v1/users/no-such-user', { auth: admin, body: { email: 'x@example.org' } }));
  });

  it('PATCH with an invalid email: 400', async () => {
    await refused(suite.api, 400, () => call('PATCH', '/api/v1/users/guest1', { auth: admin, body: { email: 'not-an-email' } }));
  });
});

describe('deleting users', () => {
  it('DELETE /users/{username}: anonymous 401, non-admin 403, self 409, unknown 404; nothing changed', async () => {
    await createUser(suite.api, 'deleteme');
    const team = await arrangeProject(suite.api, uniqueName('team'));
    await expectRoles(suite.api, team, { anonymous: 401, robot: 403, outsider: 403, guest: 403, developer: 403, projectAdmin: 403 }, (auth) =>
      call('DELETE', '/api/v1/users/deleteme', { auth }),
    );
    await refused(suite.api, 403, () => call('DELETE', '/api/v1/users/deleteme', { auth: `deleteme:${PW}` }));
    await refused(suite.api, 409, () => call('DELETE', '/api/v1/users/admin', { auth: admin }));
    await refused(suite.api, 404, () => call('DELETE', '/api/v1/users/no-such-user', { auth: admin }));
  });

  it('DELETE /users/{username} (admin): 204, gone, memberships dropped, credentials dead, user_delete audited', async () => {
    const alpha = await arrangeProject(suite.api, uniqueName('alpha'));
    await createUser(suite.api, 'doomed');
    expect((await call('PUT', `/api/v1/projects/${alpha.name}/members/doomed`, { auth: ALICE, body: { role: 'guest' } })).status).toBe(200);
    expect((await call('GET', '/api/v1/me', { auth: `doomed:${PW}` })).status).toBe(200);
    const r = await call('DELETE', '/api/v1/users/doomed', { auth: admin });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', '/api/v1/users/doomed', { auth: admin }), 404);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `doomed:${PW}` }), 401);
    const m = await call('GET', `/api/v1/projects/${alpha.name}/members`, { auth: admin });
    expect(m.body.map((x: any) => x.username)).not.toContain('doomed');
    await expectAudit(suite.api, 'user_delete', 'doomed', 'admin');
    expectErrorShape(await call('DELETE', '/api/v1/users/doomed', { auth: admin }), 404);
  });

  it('a user deleted and re-created under the same name does not keep the old password', async () => {
    await createUser(suite.api, 'reborn');
    expect((await call('GET', '/api/v1/me', { auth: `reborn:${PW}` })).status).toBe(200);
    expect((await call('DELETE', '/api/v1/users/reborn', { auth: admin })).status).toBe(204);
    expect((await call('POST', '/api/v1/users', { auth: admin, body: { username: 'reborn', password: 'other-password-2' } })).status).toBe(201);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `reborn:${PW}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: 'reborn:other-password-2' })).status).toBe(200);
  });
});

