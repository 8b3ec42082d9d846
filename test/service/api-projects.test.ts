import { asc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { members, projects, users } from '../support/tables';
import { expectProject } from '../support/api-shapes';
import { auditRows, expectAudit } from '../support/audit-trail';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, arrangeProject, CAST_PASSWORD as PW, createUser, expectRoles, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * /api/v1/projects in-process (no registry is asked): create, list, read, change and delete, who
 * sees which project, and who may change it (the role matrix, nothing changed after a refusal).
 * Each test arranges the projects it needs; the cast (alice, dev1, guest1, outsider) plays the roles.
 */

const suite = inProcessSuite('wharf-api-projects-');
const { call } = suite;
const db = () => suite.api.deps.db;
const { projectAdmin: ALICE, developer: DEV, guest: GUEST, outsider: OUTSIDER } = CAST;

/** Names of the projects a user may see, from the tables (admin: all). */
async function visibleNames(username: string | null): Promise<string[]> {
  const d = db();
  const all = await d.select().from(projects).orderBy(asc(projects.name));
  if (username === null) return all.filter((p) => p.public).map((p) => p.name);
  const user = (await firstRow(d.select().from(users).where(eq(users.username, username))))!;
  if (user.admin) return all.map((p) => p.name);
  const mine = new Set((await d.select().from(members).where(eq(members.userId, user.id))).map((m) => m.projectId));
  return all.filter((p) => p.public || mine.has(p.id)).map((p) => p.name);
}

/** A private `alpha` and a public `pubproj`, both alice's, with dev1 and guest1 as members. */
async function alphaAndPubproj() {
  return {
    alpha: await arrangeProject(suite.api, uniqueName('alpha')),
    pubproj: await arrangeProject(suite.api, uniqueName('pubproj'), { public: true }),
  };
}

async function createProject(auth: string, name: string, pub = false): Promise<void> {
  const r = await call('POST', '/api/v1/projects', { auth, body: { name, public: pub } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

describe('creating projects', () => {
  it('POST /projects: 201; the creator becomes its projectAdmin; project_create audited', async () => {
    const r = await call('POST', '/api/v1/projects', { auth: DEV, body: { name: 'gamma' } });
    expect(r.status).toBe(201);
    expectProject(r.body, { name: 'gamma', public: false, createdBy: 'dev1', role: 'projectAdmin', repositoryCount: 0 });
    const m = await call('GET', '/api/v1/projects/gamma/members', { auth: DEV });
    expect(m.status).toBe(200);
    expect(m.body).toEqual([{ username: 'dev1', role: 'projectAdmin' }]);
    const g = await call('GET', '/api/v1/projects/gamma', { auth: DEV });
    expectProject(g.body, { name: 'gamma', role: 'projectAdmin', repositoryCount: 0 });
    const row = await expectAudit(suite.api, 'project_create', 'gamma', 'dev1', 'gamma');
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
    const { alpha } = await alphaAndPubproj();
    await refused(suite.api, 409, () => call('POST', '/api/v1/projects', { auth: ALICE, body: { name: alpha.name } }));
    await refused(suite.api, 409, () => call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: alpha.name, public: true } }));
    await refused(suite.api, 409, () => call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: 'library' } }));
  });

  it('POST /projects anonymously: 401', async () => {
    await refused(suite.api, 401, () => call('POST', '/api/v1/projects', { body: { name: 'anonproj' } }));
  });

  it('parallel POST /projects of one name by different users: exactly one 201, one projectAdmin', async () => {
    const racer = uniqueName('racer');
    await createUser(suite.api, racer);
    const who = [ALICE, DEV, GUEST, OUTSIDER, `${racer}:${PW}`, admin];
    const results = await Promise.all(who.map((auth) => call('POST', '/api/v1/projects', { auth, body: { name: 'race-proj' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 201)!.body.createdBy;
    expect((await call('GET', '/api/v1/projects/race-proj/members', { auth: admin })).body).toEqual([{ username: winner, role: 'projectAdmin' }]);
    expect((await auditRows(suite.api, 'project_create', 'race-proj'))).toHaveLength(1);
  });
});

describe('listing and reading projects', () => {
  it('GET /projects: admin sees all, others their own and public ones, anonymous public only', async () => {
    const { alpha, pubproj } = await alphaAndPubproj();
    const gamma = uniqueName('gamma');
    await createProject(DEV, gamma);
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
      const expected = await visibleNames(name);
      expect(r.body.items.map((p: any) => p.name).sort()).toEqual([...expected].sort());
      expect(r.body.total).toBe(expected.length);
      for (const p of r.body.items) expectProject(p);
    }
    const all = await call('GET', '/api/v1/projects?pageSize=500', { auth: admin });
    expect(all.body.items.map((p: any) => p.name)).toEqual(expect.arrayContaining(['library', alpha.name, pubproj.name, gamma]));
    const outsider = await call('GET', '/api/v1/projects?pageSize=500', { auth: OUTSIDER });
    expect(outsider.body.items.map((p: any) => p.name)).not.toContain(alpha.name);
    expect(outsider.body.items.map((p: any) => p.name)).not.toContain('library');
    const anon = await call('GET', '/api/v1/projects?pageSize=500');
    expect(anon.body.items.every((p: any) => p.public === true)).toBe(true);
  });

  it("GET /projects shows the caller's role per project", async () => {
    const { alpha, pubproj } = await alphaAndPubproj();
    const openHouse = uniqueName('open-house');
    await createProject(ALICE, openHouse, true);
    const gamma = uniqueName('gamma');
    await createProject(DEV, gamma);
    const r = await call('GET', '/api/v1/projects?pageSize=500', { auth: GUEST });
    const byName = Object.fromEntries(r.body.items.map((p: any) => [p.name, p]));
    expect(byName[alpha.name].role).toBe('guest');
    expect(byName[pubproj.name].role).toBe('guest');
    expect(byName[openHouse].role).toBeNull();
    const d = await call('GET', '/api/v1/projects?pageSize=500', { auth: DEV });
    const dByName = Object.fromEntries(d.body.items.map((p: any) => [p.name, p]));
    expect(dByName[alpha.name].role).toBe('developer');
    expect(dByName[gamma].role).toBe('projectAdmin');
  });

  it('GET /projects: paging and q', async () => {
    const { alpha } = await alphaAndPubproj();
    const total = (await call('GET', '/api/v1/projects', { auth: admin })).body.total;
    expect(total).toBeGreaterThanOrEqual(4);
    const p1 = await call('GET', '/api/v1/projects?page=1&pageSize=1', { auth: admin });
    const p2 = await call('GET', '/api/v1/projects?page=2&pageSize=1', { auth: admin });
    expect(p1.body.items).toHaveLength(1);
    expect(p2.body.items).toHaveLength(1);
    expect(p1.body.total).toBe(total);
    expect(p1.body.items[0].name).not.toBe(p2.body.items[0].name);
    const q = await call('GET', `/api/v1/projects?q=${alpha.name.slice(0, -1)}`, { auth: admin });
    expect(q.body.items.map((p: any) => p.name)).toEqual([alpha.name]);
    expect(q.body.total).toBe(1);
    // a private project does not show up in an outsider's search either
    const hidden = await call('GET', `/api/v1/projects?q=${alpha.name.slice(0, -1)}`, { auth: OUTSIDER });
    expect(hidden.body).toEqual({ items: [], total: 0 });
    const hiddenAnon = await call('GET', `/api/v1/projects?q=${alpha.name.slice(0, -1)}`);
    expect(hiddenAnon.body).toEqual({ items: [], total: 0 });
  });

  it('GET /projects/{project}: members and admin see a private project; outsider and anonymous get 404', async () => {
    const { alpha } = await alphaAndPubproj();
    for (const [who, role] of [
      [ALICE, 'projectAdmin'],
      [DEV, 'developer'],
      [GUEST, 'guest'],
      [admin, null],
    ] as const) {
      const r = await call('GET', `/api/v1/projects/${alpha.name}`, { auth: who });
      expect(r.status).toBe(200);
      expectProject(r.body, { name: alpha.name, public: false, createdBy: 'alice', role, repositoryCount: 0 });
    }
    const o = await call('GET', `/api/v1/projects/${alpha.name}`, { auth: OUTSIDER });
    expectErrorShape(o, 404);
    const missing = await call('GET', '/api/v1/projects/does-not-exist', { auth: OUTSIDER });
    expectErrorShape(missing, 404);
    // a hidden project is indistinguishable from a missing one
    expect(o.body.error.code).toBe(missing.body.error.code);
    expect(o.body.error.message.replace(alpha.name, 'X')).toBe(missing.body.error.message.replace('does-not-exist', 'X'));
    expectErrorShape(await call('GET', `/api/v1/projects/${alpha.name}`), 404);
    expectErrorShape(await call('GET', '/api/v1/projects/library', { auth: OUTSIDER }), 404);
  });

  it('GET /projects/{project}: a public project is visible to anonymous and outsiders', async () => {
    const { pubproj } = await alphaAndPubproj();
    for (const who of [undefined, OUTSIDER]) {
      const r = await call('GET', `/api/v1/projects/${pubproj.name}`, who ? { auth: who } : {});
      expect(r.status).toBe(200);
      expectProject(r.body, { name: pubproj.name, public: true, createdBy: 'alice', role: null });
    }
  });
});

describe('changing and deleting projects', () => {
  it('PATCH /projects/{project} (projectAdmin): 200, public toggled, project_update audited', async () => {
    const toggle = uniqueName('toggle');
    await createProject(ALICE, toggle);
    const r = await call('PATCH', `/api/v1/projects/${toggle}`, { auth: ALICE, body: { public: true } });
    expect(r.status).toBe(200);
    expectProject(r.body, { name: toggle, public: true });
    await expectAudit(suite.api, 'project_update', toggle, 'alice', toggle);
    expect((await call('GET', `/api/v1/projects/${toggle}`)).status).toBe(200);
    const back = await call('PATCH', `/api/v1/projects/${toggle}`, { auth: admin, body: { public: false } });
    expect(back.body.public).toBe(false);
    await expectAudit(suite.api, 'project_update', toggle, 'admin', toggle);
    expectErrorShape(await call('GET', `/api/v1/projects/${toggle}`), 404);
  });

  it('PATCH project: robot/developer/guest 403, outsider 404 (private) / 403 (public), anonymous 401; nothing changed', async () => {
    const { alpha, pubproj } = await alphaAndPubproj();
    await expectRoles(suite.api, alpha, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403 }, (auth) =>
      call('PATCH', `/api/v1/projects/${alpha.name}`, auth ? { auth, body: { public: true } } : { body: { public: true } }),
    );
    await expectRoles(suite.api, pubproj, { anonymous: 401, robot: 403, outsider: 403, guest: 403, developer: 403 }, (auth) =>
      call('PATCH', `/api/v1/projects/${pubproj.name}`, auth ? { auth, body: { public: false } } : { body: { public: false } }),
    );
    await refused(suite.api, 404, () => call('PATCH', '/api/v1/projects/no-such-project', { auth: admin, body: { public: true } }));
  });

  it('DELETE project: robot/developer/guest 403, outsider 404 / 403, anonymous 401, the default project 409; nothing changed', async () => {
    const { alpha, pubproj } = await alphaAndPubproj();
    await expectRoles(suite.api, alpha, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403 }, (auth) =>
      call('DELETE', `/api/v1/projects/${alpha.name}`, { auth }),
    );
    await expectRoles(suite.api, pubproj, { anonymous: 401, robot: 403, outsider: 403, guest: 403, developer: 403 }, (auth) =>
      call('DELETE', `/api/v1/projects/${pubproj.name}`, { auth }),
    );
    await refused(suite.api, 404, () => call('DELETE', '/api/v1/projects/no-such-project', { auth: admin }));
    await refused(suite.api, 409, () => call('DELETE', '/api/v1/projects/library', { auth: admin }));
  });

  it('DELETE project (projectAdmin): 204, gone with its members, project_delete audited, name reusable', async () => {
    const toggle = uniqueName('toggle');
    await createProject(ALICE, toggle);
    expect((await call('PUT', `/api/v1/projects/${toggle}/members/dev1`, { auth: ALICE, body: { role: 'developer' } })).status).toBe(200);
    const r = await call('DELETE', `/api/v1/projects/${toggle}`, { auth: ALICE });
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expectErrorShape(await call('GET', `/api/v1/projects/${toggle}`, { auth: admin }), 404);
    expectErrorShape(await call('GET', `/api/v1/projects/${toggle}/members`, { auth: admin }), 404);
    const gone = await firstRow(db().select().from(projects).where(eq(projects.name, toggle)));
    expect(gone).toBeUndefined();
    const row = await expectAudit(suite.api, 'project_delete', toggle, 'alice', toggle);
    expect(row.resourceType).toBe('project');
    expect((await call('GET', '/api/v1/projects?pageSize=500', { auth: DEV })).body.items.map((p: any) => p.name)).not.toContain(toggle);
    // re-created by someone else: a fresh project, dev1 is no longer a member
    const again = await call('POST', '/api/v1/projects', { auth: OUTSIDER, body: { name: toggle } });
    expect(again.status).toBe(201);
    expect((await call('GET', `/api/v1/projects/${toggle}/members`, { auth: OUTSIDER })).body).toEqual([{ username: 'outsider', role: 'projectAdmin' }]);
    expectErrorShape(await call('GET', `/api/v1/projects/${toggle}`, { auth: DEV }), 404);
    expect((await call('DELETE', `/api/v1/projects/${toggle}`, { auth: admin })).status).toBe(204);
    await expectAudit(suite.api, 'project_delete', toggle, 'admin', toggle);
  });
});
