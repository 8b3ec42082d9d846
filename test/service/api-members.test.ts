import { describe, expect, it } from 'vitest';
import { auditRows, expectAudit } from '../support/audit-trail';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, arrangeProject, CAST_PASSWORD as PW, createUser, expectRoles, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * /api/v1/projects/{project}/members (and the groups list beside it) in-process: who sees the
 * members, who may set and remove them (the role matrix, nothing changed after a refusal), audit rows.
 * Each test arranges its own projects and the extra users it changes.
 */

const suite = inProcessSuite('wharf-api-members-');
const { call } = suite;
const { projectAdmin: ALICE, developer: DEV, guest: GUEST, outsider: OUTSIDER } = CAST;

const alphaMembers = [
  { username: 'alice', role: 'projectAdmin' },
  { username: 'dev1', role: 'developer' },
  { username: 'guest1', role: 'guest' },
];

/** A private project of the cast with a fresh user (a guest unless said) beside the CAST. */
async function alphaWith(username: string, role?: string) {
  const alpha = await arrangeProject(suite.api, uniqueName('alpha'));
  await createUser(suite.api, username);
  if (role) expect((await call('PUT', `/api/v1/projects/${alpha.name}/members/${username}`, { auth: ALICE, body: { role } })).status).toBe(200);
  return alpha.name;
}

describe('reading members', () => {
  it('GET /projects/{project}/members: members and admins see [{username, role}]; outsider/anonymous 404 on private, 403/401 on public', async () => {
    const alpha = (await arrangeProject(suite.api, uniqueName('alpha'))).name;
    const pubproj = (await arrangeProject(suite.api, uniqueName('pubproj'), { public: true })).name;
    for (const who of [ALICE, DEV, GUEST, admin]) {
      const r = await call('GET', `/api/v1/projects/${alpha}/members`, { auth: who });
      expect(r.status).toBe(200);
      expect(r.body).toEqual(alphaMembers);
    }
    expectErrorShape(await call('GET', `/api/v1/projects/${alpha}/members`, { auth: OUTSIDER }), 404);
    expectErrorShape(await call('GET', `/api/v1/projects/${alpha}/members`), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/nope/members', { auth: admin }), 404);
    const pub = await call('GET', `/api/v1/projects/${pubproj}/members`, { auth: GUEST });
    expect(pub.status).toBe(200);
    expect(pub.body).toEqual(alphaMembers);
    expectErrorShape(await call('GET', `/api/v1/projects/${pubproj}/members`), 401);
    expectErrorShape(await call('GET', `/api/v1/projects/${pubproj}/members`, { auth: OUTSIDER }), 403);
    expectErrorShape(await call('GET', `/api/v1/projects/${pubproj}/groups`), 401);
    expectErrorShape(await call('GET', `/api/v1/projects/${pubproj}/groups`, { auth: OUTSIDER }), 403);
    expect((await call('GET', `/api/v1/projects/${pubproj}/groups`, { auth: GUEST })).status).toBe(200);
  });
});

describe('setting members', () => {
  it('PUT /projects/{project}/members/{username} (projectAdmin): 200 member, role change, member_set audited', async () => {
    const alpha = await alphaWith('bob');
    const r = await call('PUT', `/api/v1/projects/${alpha}/members/bob`, { auth: ALICE, body: { role: 'guest' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ username: 'bob', role: 'guest' });
    const row = await expectAudit(suite.api, 'member_set', 'bob', 'alice', alpha);
    expect(row.resourceType).toBe('member');
    expect(row.detail).toContain('guest');
    // bob now sees the private project with his role
    const seen = await call('GET', `/api/v1/projects/${alpha}`, { auth: `bob:${PW}` });
    expect(seen.status).toBe(200);
    expect(seen.body.role).toBe('guest');

    const up = await call('PUT', `/api/v1/projects/${alpha}/members/bob`, { auth: ALICE, body: { role: 'developer' } });
    expect(up.body).toEqual({ username: 'bob', role: 'developer' });
    expect((await call('GET', `/api/v1/projects/${alpha}/members`, { auth: admin })).body).toContainEqual({ username: 'bob', role: 'developer' });
    expect((await auditRows(suite.api, 'member_set', 'bob')).filter((x) => x.project === alpha).length).toBeGreaterThanOrEqual(2);

    // a system admin who is no member may manage too
    const byAdmin = await call('PUT', `/api/v1/projects/${alpha}/members/bob`, { auth: admin, body: { role: 'guest' } });
    expect(byAdmin.status).toBe(200);
    await expectAudit(suite.api, 'member_set', 'bob', 'admin', alpha);
  });

  it('a projectAdmin may make another projectAdmin, who can then manage members', async () => {
    const alpha = await alphaWith('bea', 'guest');
    await createUser(suite.api, 'cal');
    expect((await call('PUT', `/api/v1/projects/${alpha}/members/bea`, { auth: ALICE, body: { role: 'projectAdmin' } })).status).toBe(200);
    expect((await call('PUT', `/api/v1/projects/${alpha}/members/cal`, { auth: `bea:${PW}`, body: { role: 'guest' } })).status).toBe(200);
    expect((await call('DELETE', `/api/v1/projects/${alpha}/members/cal`, { auth: `bea:${PW}` })).status).toBe(204);
    expect((await call('PUT', `/api/v1/projects/${alpha}/members/bea`, { auth: ALICE, body: { role: 'guest' } })).status).toBe(200);
  });

  it('PUT member: robot/developer/guest 403, outsider 404 on private, 403 on public, anonymous 401; nothing changed', async () => {
    const alpha = await arrangeProject(suite.api, uniqueName('alpha'));
    const pubproj = await arrangeProject(suite.api, uniqueName('pubproj'), { public: true });
    const put = (project: string, username: string, role: string) => (auth: string | undefined) =>
      call('PUT', `/api/v1/projects/${project}/members/${username}`, { auth, body: { role } });
    await createUser(suite.api, 'gil');
    expect((await put(alpha.name, 'gil', 'guest')(ALICE)).status).toBe(200);
    // a guest the projectAdmin added, refused like the cast's own guest
    for (const who of [DEV, GUEST, `gil:${PW}`]) {
      await refused(suite.api, 403, () => put(alpha.name, 'outsider', 'guest')(who));
      await refused(suite.api, 403, () => put(alpha.name, 'guest1', 'projectAdmin')(who));
    }
    await expectRoles(suite.api, alpha, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403 }, put(alpha.name, 'outsider', 'projectAdmin'));
    await expectRoles(suite.api, pubproj, { anonymous: 401, robot: 403, outsider: 403, guest: 403, developer: 403 }, put(pubproj.name, 'outsider', 'projectAdmin'));
    // a developer may not promote themselves
    await refused(suite.api, 403, () => put(alpha.name, 'dev1', 'projectAdmin')(DEV));
    await refused(suite.api, 401, () => put(alpha.name, 'outsider', 'guest')(undefined));
    await refused(suite.api, 401, () => put(pubproj.name, 'outsider', 'guest')(undefined));
  });

  it('PUT member: unknown user or project 404', async () => {
    const alpha = await alphaWith('bo');
    await refused(suite.api, 404, () => call('PUT', `/api/v1/projects/${alpha}/members/no-such-user`, { auth: ALICE, body: { role: 'guest' } }));
    await refused(suite.api, 404, () => call('PUT', '/api/v1/projects/no-such-project/members/bo', { auth: admin, body: { role: 'guest' } }));
  });
});

describe('removing members', () => {
  it('DELETE member: robot/developer/guest 403, outsider 404, anonymous 401; nothing changed', async () => {
    const alpha = await arrangeProject(suite.api, uniqueName('alpha'));
    const pubproj = await arrangeProject(suite.api, uniqueName('pubproj'), { public: true });
    await createUser(suite.api, 'bud');
    expect((await call('PUT', `/api/v1/projects/${alpha.name}/members/bud`, { auth: ALICE, body: { role: 'guest' } })).status).toBe(200);
    const remove = (project: string, username: string) => (auth: string | undefined) => call('DELETE', `/api/v1/projects/${project}/members/${username}`, { auth });
    await expectRoles(suite.api, alpha, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403 }, remove(alpha.name, 'bud'));
    await expectRoles(suite.api, alpha, { robot: 403, guest: 403, developer: 403 }, remove(alpha.name, 'alice'));
    await expectRoles(suite.api, pubproj, { robot: 403, outsider: 403, guest: 403, developer: 403 }, remove(pubproj.name, 'alice'));
    await refused(suite.api, 403, () => remove(pubproj.name, 'dev1')(OUTSIDER));
  });

  it('DELETE member of someone who is not a member, or of an unknown user: 404', async () => {
    const alpha = (await arrangeProject(suite.api, uniqueName('alpha'))).name;
    await refused(suite.api, 404, () => call('DELETE', `/api/v1/projects/${alpha}/members/outsider`, { auth: ALICE }));
    await refused(suite.api, 404, () => call('DELETE', `/api/v1/projects/${alpha}/members/no-such-user`, { auth: ALICE }));
  });

  it('DELETE member (projectAdmin): 204, member_remove audited, the removed user loses sight of the project', async () => {
    const alpha = await alphaWith('ben', 'developer');
    const r = await call('DELETE', `/api/v1/projects/${alpha}/members/ben`, { auth: ALICE });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    const m = await call('GET', `/api/v1/projects/${alpha}/members`, { auth: admin });
    expect(m.body.map((x: any) => x.username)).not.toContain('ben');
    const row = await expectAudit(suite.api, 'member_remove', 'ben', 'alice', alpha);
    expect(row.resourceType).toBe('member');
    expectErrorShape(await call('GET', `/api/v1/projects/${alpha}`, { auth: `ben:${PW}` }), 404);
    expectErrorShape(await call('DELETE', `/api/v1/projects/${alpha}/members/ben`, { auth: ALICE }), 404);
  });
});
