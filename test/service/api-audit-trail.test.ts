import { notInArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { audit } from '../support/tables';
import { type CallOptions } from '../support/api-client';
import { expectAudit } from '../support/audit-trail';
import { LOGIN_ACTIONS } from '../support/refusals';
import { CAST, arrangeProject, createUser, expectRoles, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/** The audit rows that /api/v1 changes to users, projects and members write, in-process; and none for a refusal. */

const suite = inProcessSuite('wharf-api-audit-trail-');
const { call } = suite;

async function ok(method: string, path: string, opts: CallOptions, status = 200): Promise<void> {
  const r = await call(method, path, opts);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(status);
}

describe('audit trail of state changes', () => {
  it('has user_create, user_update, user_delete, project_create, project_update, project_delete, member_set, member_remove rows with actor and resource', async () => {
    const ALICE = CAST.projectAdmin;
    const alpha = (await arrangeProject(suite.api, uniqueName('alpha'))).name;
    const pubproj = (await arrangeProject(suite.api, uniqueName('pubproj'), { public: true })).name;
    const gamma = uniqueName('gamma');
    await ok('POST', '/api/v1/projects', { auth: CAST.developer, body: { name: gamma } }, 201);
    const toggle = uniqueName('toggle');
    await ok('POST', '/api/v1/projects', { auth: ALICE, body: { name: toggle } }, 201);
    await ok('PATCH', `/api/v1/projects/${toggle}`, { auth: ALICE, body: { public: true } });
    await ok('DELETE', `/api/v1/projects/${toggle}`, { auth: ALICE }, 204);
    for (const name of ['bob', 'patchme', 'deleteme']) await createUser(suite.api, name);
    await ok('PATCH', '/api/v1/users/patchme', { auth: admin, body: { email: 'p@example.org' } });
    await ok('DELETE', '/api/v1/users/deleteme', { auth: admin }, 204);
    await ok('PUT', `/api/v1/projects/${alpha}/members/bob`, { auth: ALICE, body: { role: 'guest' } });
    await ok('DELETE', `/api/v1/projects/${alpha}/members/bob`, { auth: ALICE }, 204);

    await expectAudit(suite.api, 'user_create', 'alice', 'admin');
    await expectAudit(suite.api, 'user_create', 'bob', 'admin');
    await expectAudit(suite.api, 'user_update', 'patchme', 'admin');
    await expectAudit(suite.api, 'user_delete', 'deleteme', 'admin');
    await expectAudit(suite.api, 'project_create', alpha, 'alice', alpha);
    await expectAudit(suite.api, 'project_create', gamma, 'dev1', gamma);
    await expectAudit(suite.api, 'project_update', toggle, 'alice', toggle);
    await expectAudit(suite.api, 'project_delete', toggle, 'alice', toggle);
    await expectAudit(suite.api, 'member_set', 'dev1', 'alice', alpha);
    await expectAudit(suite.api, 'member_set', 'guest1', 'alice', pubproj);
    await expectAudit(suite.api, 'member_remove', 'bob', 'alice', alpha);
    for (const row of await suite.api.deps.db.select().from(audit)) {
      expect(row.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(row.username.length).toBeGreaterThan(0);
    }
  });

  it('no refused request left a state-change audit row by a non-authorised actor', async () => {
    const alpha = await arrangeProject(suite.api, uniqueName('alpha'));
    const pubproj = await arrangeProject(suite.api, uniqueName('pubproj'), { public: true });
    await createUser(suite.api, 'victim');
    for (const project of [alpha, pubproj]) {
      const p = `/api/v1/projects/${project.name}`;
      const outsider = project === alpha ? 404 : 403;
      const requests: [string, string, unknown][] = [
        ['PATCH', p, { public: !(project === pubproj) }],
        ['DELETE', p, undefined],
        ['PUT', `${p}/members/victim`, { role: 'projectAdmin' }],
        ['DELETE', `${p}/members/dev1`, undefined],
      ];
      for (const [method, path, body] of requests)
        await expectRoles(suite.api, project, { anonymous: 401, robot: 403, outsider, guest: 403 }, (auth) => call(method, path, { auth, body }));
    }
    for (const [method, path, body] of [
      ['POST', '/api/v1/users', { username: 'sneaky', password: 'test-password-1' }],
      ['PATCH', '/api/v1/users/victim', { disabled: true }],
      ['DELETE', '/api/v1/users/victim', undefined],
    ] as const)
      await expectRoles(suite.api, alpha, { anonymous: 401, robot: 403, outsider: 403, guest: 403 }, (auth) => call(method, path, { auth, body }));

    const rows = await suite.api.deps.db.select().from(audit).where(notInArray(audit.action, LOGIN_ACTIONS));
    for (const row of rows) {
      expect(['guest1', 'anonymous', 'throttled']).not.toContain(row.username);
      if (row.project === alpha.name || row.project === pubproj.name) expect(['alice', 'admin', 'bob']).toContain(row.username);
    }
  });
});
