import { describe, expect, it } from 'vitest';
import { expectAudit } from '../support/audit-trail';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, CAST_PASSWORD as PW, createUser, uniqueName } from '../support/role-matrix';
import { admin, ADMIN_PASSWORD } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/** PUT /api/v1/users/{username}/password in-process: who may change whose password, and that the old one dies at once. */

const suite = inProcessSuite('wharf-api-passwords-');
const { call } = suite;
const NEW1 = 'new-password-1';
const NEW2 = 'new-password-2';
const { projectAdmin: ALICE, outsider: OUTSIDER } = CAST;

/** A user of this test alone, signed in once so that its password sits in the credential cache. */
async function freshUser(): Promise<string> {
  const name = uniqueName('pwuser');
  await createUser(suite.api, name);
  expect((await call('GET', '/api/v1/me', { auth: `${name}:${PW}` })).status).toBe(200);
  return name;
}

describe('passwords', () => {
  it('self without oldPassword: 400, old password still works', async () => {
    const PWUSER = await freshUser();
    await refused(suite.api, 400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { newPassword: NEW1 } }));
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` })).status).toBe(200);
  });

  it('self with a wrong oldPassword: 403, old password still works', async () => {
    const PWUSER = await freshUser();
    await refused(suite.api, 403, () =>
      call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: 'not-my-password', newPassword: NEW1 } }),
    );
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` })).status).toBe(200);
  });

  it('the admin changing their own password also needs oldPassword (400 without it)', async () => {
    await refused(suite.api, 400, () => call('PUT', '/api/v1/users/admin/password', { auth: admin, body: { newPassword: 'whatever-123' } }));
    await refused(suite.api, 403, () => call('PUT', '/api/v1/users/admin/password', { auth: admin, body: { oldPassword: 'nope-nope', newPassword: 'whatever-123' } }));
  });

  it("a non-admin cannot change another user's password (403), even with the right old one", async () => {
    const PWUSER = await freshUser();
    await refused(suite.api, 403, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: ALICE, body: { newPassword: NEW1 } }));
    await refused(suite.api, 403, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: ALICE, body: { oldPassword: PW, newPassword: NEW1 } }));
    await refused(suite.api, 403, () => call('PUT', '/api/v1/users/admin/password', { auth: ALICE, body: { oldPassword: ADMIN_PASSWORD, newPassword: NEW1 } }));
  });

  it('anonymous: 401', async () => {
    const PWUSER = await freshUser();
    await refused(suite.api, 401, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { body: { oldPassword: PW, newPassword: NEW1 } }));
  });

  it('a too short new password: 400', async () => {
    const PWUSER = await freshUser();
    await refused(suite.api, 400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: 'short' } }));
    await refused(suite.api, 400, () => call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: '' } }));
  });

  // Like GET/PATCH/DELETE /users/{username}, a non-admin is refused before the lookup: 403 either way.
  it('a non-admin learns nothing about other users from this endpoint: unknown user 403 like a known one', async () => {
    const PWUSER = await freshUser();
    const known = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: OUTSIDER, body: { newPassword: NEW1 } });
    const unknown = await call('PUT', '/api/v1/users/no-such-user/password', { auth: OUTSIDER, body: { newPassword: NEW1 } });
    expectErrorShape(known, 403);
    expectErrorShape(unknown, 403);
  });

  it('an unknown user (admin): 404', async () => {
    await refused(suite.api, 404, () => call('PUT', '/api/v1/users/no-such-user/password', { auth: admin, body: { newPassword: NEW1 } }));
  });

  it('self with the right oldPassword: 204; the old password stops working for Basic, the new one works', async () => {
    const PWUSER = await freshUser();
    const r = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: `${PWUSER}:${PW}`, body: { oldPassword: PW, newPassword: NEW1 } });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${NEW1}` })).body).toEqual({ username: PWUSER, admin: false, source: 'local' });
    const row = await expectAudit(suite.api, 'user_update', PWUSER, PWUSER);
    expect(row.detail ?? '').not.toContain(NEW1);
  });

  it('the admin resets another user without oldPassword: 204; old stops working, new works', async () => {
    const PWUSER = await freshUser();
    const r = await call('PUT', `/api/v1/users/${PWUSER}/password`, { auth: admin, body: { newPassword: NEW2 } });
    expect(r.status).toBe(204);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `${PWUSER}:${PW}` }), 401);
    expect((await call('GET', '/api/v1/me', { auth: `${PWUSER}:${NEW2}` })).status).toBe(200);
    await expectAudit(suite.api, 'user_update', PWUSER, 'admin');
  });
});
