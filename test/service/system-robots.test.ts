import { decodeJwt } from 'jose';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { inProcessSuite } from '../support/api-suite';
import { auditRows, expectAudit } from '../support/audit-trail';
import { CAST } from '../support/role-matrix';
import { systemRobots } from '../support/tables';
import { admin } from '../support/wharf';

/**
 * /api/v1/robots in-process: system robots (not tied to one project) get exactly their
 * permissions on the projects they cover and nothing elsewhere, are checked against the database
 * on every use, may create projects when allowed, and reach nothing else of the admin plane.
 */

const suite = inProcessSuite('wharf-system-robots-');
const { call } = suite;
const db = () => suite.api.deps.db;

async function project(name: string): Promise<void> {
  const r = await call('POST', '/api/v1/projects', { auth: admin, body: { name } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function robot(body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', '/api/v1/robots', { auth: admin, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return `${r.body.name}:${r.body.secret}`;
}

/** The access a token for these scopes carries, by repository; 401 gives null. */
async function granted(creds: string, ...scopes: string[]): Promise<Record<string, string[]> | null> {
  const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
  const r = await call('GET', `/service/token?service=wharf-registry&${q}`, { auth: creds });
  if (r.status === 401) return null;
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const access = decodeJwt(r.body.token as string).access as { type: string; name: string; actions: string[] }[];
  // A scope granted nothing is left out of the token: it shows here as [].
  const asked = scopes.map((s) => s.slice(0, s.lastIndexOf(':')));
  return Object.fromEntries(asked.map((key) => [key, [...(access.find((a) => `${a.type}:${a.name}` === key)?.actions ?? [])].sort()]));
}

describe('system robots', () => {
  it('a robot on [a] asking for push on a/x and b/x gets a/x only; never the catalog', async () => {
    await project('sr-a');
    await project('sr-b');
    const creds = await robot({ name: 'only-a', permissions: ['pull', 'push'], projects: ['sr-a'] });
    expect(creds.startsWith('robot$only-a:wrb_')).toBe(true);
    expect(await granted(creds, 'repository:sr-a/x:push,pull', 'repository:sr-b/x:push,pull', 'registry:catalog:*')).toEqual({
      'repository:sr-a/x': ['pull', 'push'],
      'repository:sr-b/x': [],
      'registry:catalog': [],
    });
    // exactly its permissions: delete was not given
    expect(await granted(creds, 'repository:sr-a/x:delete')).toEqual({ 'repository:sr-a/x': [] });
  });

  it("a '*' robot gets its permissions on every existing project, nothing on a missing one", async () => {
    await project('sr-c');
    const creds = await robot({ name: 'everywhere', permissions: ['pull'], projects: '*' });
    expect(await granted(creds, 'repository:sr-a/x:push,pull', 'repository:sr-c/y/z:pull', 'repository:no-such-project/x:pull,push')).toEqual({
      'repository:sr-a/x': ['pull'],
      'repository:sr-c/y/z': ['pull'],
      'repository:no-such-project/x': [],
    });
    const listed = await call('GET', '/api/v1/robots', { auth: admin });
    const row = listed.body.items.find((r: { name: string }) => r.name === 'robot$everywhere');
    expect(row).toMatchObject({ projects: '*', permissions: ['pull'], createProjects: false, disabled: false, lastUsedAt: expect.any(String) });
  });

  it('disabled or expired: refused on the next use; enabled again: accepted', async () => {
    await project('sr-d');
    const creds = await robot({ name: 'switch', permissions: ['pull'], projects: ['sr-d'], expiresInDays: 30 });
    expect(await granted(creds, 'repository:sr-d/x:pull')).toEqual({ 'repository:sr-d/x': ['pull'] });
    expect((await call('PATCH', '/api/v1/robots/robot$switch', { auth: admin, body: { disabled: true } })).status).toBe(200);
    expect(await granted(creds, 'repository:sr-d/x:pull')).toBeNull();
    expect((await call('GET', '/api/v1/projects/sr-d', { auth: creds })).status).toBe(401);
    expect((await call('PATCH', '/api/v1/robots/switch', { auth: admin, body: { disabled: false } })).status).toBe(200);
    expect(await granted(creds, 'repository:sr-d/x:pull')).toEqual({ 'repository:sr-d/x': ['pull'] });
    await db().update(systemRobots).set({ expiresAt: new Date(Date.now() - 1000).toISOString() }).where(eq(systemRobots.name, 'switch'));
    expect(await granted(creds, 'repository:sr-d/x:pull')).toBeNull();
    // a wrong secret is refused, and a project robot's form of the name is not a system robot's
    expect(await granted('robot$everywhere:wrb_wrong', 'repository:sr-a/x:pull')).toBeNull();
  });

  it('PATCH changes projects and permissions, checked at once; DELETE removes it; each audited with the full name', async () => {
    const creds = await robot({ name: 'changing', permissions: ['pull'], projects: ['sr-a'] });
    await expectAudit(suite.api, 'robot_create', 'robot$changing', 'admin');
    const p = await call('PATCH', '/api/v1/robots/changing', { auth: admin, body: { projects: ['sr-b'], permissions: ['pull', 'delete'] } });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body).toMatchObject({ name: 'robot$changing', projects: ['sr-b'], permissions: ['pull', 'delete'] });
    expect(p.body.secret).toBeUndefined();
    await expectAudit(suite.api, 'robot_update', 'robot$changing', 'admin');
    expect(await granted(creds, 'repository:sr-a/x:pull', 'repository:sr-b/x:pull,delete')).toEqual({ 'repository:sr-a/x': [], 'repository:sr-b/x': ['delete', 'pull'] });
    const bad = await call('PATCH', '/api/v1/robots/changing', { auth: admin, body: { projects: ['sr-b', 'missing-project'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/missing-project/);
    expect((await call('PATCH', '/api/v1/robots/nobody', { auth: admin, body: { disabled: true } })).status).toBe(404);
    expect((await call('DELETE', '/api/v1/robots/robot$changing', { auth: admin })).status).toBe(204);
    await expectAudit(suite.api, 'robot_delete', 'robot$changing', 'admin');
    expect(await granted(creds, 'repository:sr-b/x:pull')).toBeNull();
    expect((await call('DELETE', '/api/v1/robots/changing', { auth: admin })).status).toBe(404);
  });

  it('refuses bad input with 4xx and stores nothing; the secret is shown once, never by GET', async () => {
    const before = (await db().select().from(systemRobots)).length;
    const good = { name: 'fine', permissions: ['pull'], projects: ['sr-a'] };
    for (const [what, body, status] of [
      ['plus in name', { ...good, name: 'sr-a+ci' }, 400],
      ['upper case', { ...good, name: 'CI' }, 400],
      ['unknown project', { ...good, projects: ['sr-a', 'nope-project'] }, 400],
      ['no permissions', { ...good, permissions: [] }, 400],
      ['bad permission', { ...good, permissions: ['admin'] }, 400],
      ['projects neither list nor *', { ...good, projects: 'all' }, 400],
      ['unknown field', { ...good, admin: true }, 400],
      ['expiry out of range', { ...good, expiresInDays: 0 }, 400],
    ] as const) expect((await call('POST', '/api/v1/robots', { auth: admin, body: body as unknown as Record<string, unknown> })).status, what).toBe(status);
    expect((await db().select().from(systemRobots)).length).toBe(before);
    await robot({ ...good, name: 'twice' });
    const dup = await call('POST', '/api/v1/robots', { auth: admin, body: { ...good, name: 'twice' } });
    expect(dup.status).toBe(409);
    const listed = await call('GET', '/api/v1/robots', { auth: admin });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain('wrb_');
    expect(JSON.stringify(listed.body)).not.toContain('secret');
  });

  it('users who are not system admins cannot manage them (403), anonymous callers 401', async () => {
    for (const auth of [CAST.projectAdmin, CAST.outsider]) {
      expect((await call('POST', '/api/v1/robots', { auth, body: { name: 'by-user', permissions: ['pull'], projects: '*' } })).status).toBe(403);
      expect((await call('GET', '/api/v1/robots', { auth })).status).toBe(403);
      expect((await call('PATCH', '/api/v1/robots/twice', { auth, body: { disabled: true } })).status).toBe(403);
      expect((await call('DELETE', '/api/v1/robots/twice', { auth })).status).toBe(403);
    }
    expect((await call('GET', '/api/v1/robots')).status).toBe(401);
    expect((await call('POST', '/api/v1/robots', { body: { name: 'anon', permissions: ['pull'], projects: '*' } })).status).toBe(401);
    expect((await db().select().from(systemRobots).where(eq(systemRobots.name, 'by-user'))).length).toBe(0);
    // a project robot cannot either
    const pr = await call('POST', '/api/v1/projects/sr-a/robots', { auth: admin, body: { name: 'ci', permissions: ['pull'] } });
    expect((await call('GET', '/api/v1/robots', { auth: `${pr.body.name}:${pr.body.secret}` })).status).toBe(403);
  });

  it('createProjects: POST /projects makes a project with no members, added to its list; it reads its projects and nothing else of the admin plane', async () => {
    const creds = await robot({ name: 'creator', permissions: ['pull', 'push'], projects: ['sr-a'], createProjects: true });
    const made = await call('POST', '/api/v1/projects', { auth: creds, body: { name: 'sr-made' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ name: 'sr-made', createdBy: 'robot$creator', role: null });
    await expectAudit(suite.api, 'project_create', 'sr-made', 'robot$creator', 'sr-made');
    expect((await call('GET', '/api/v1/projects/sr-made/members', { auth: admin })).body).toEqual([]);
    const listed = (await call('GET', '/api/v1/robots', { auth: admin })).body.items.find((r: { name: string }) => r.name === 'robot$creator');
    expect(listed.projects).toEqual(['sr-a', 'sr-made']);
    expect(await granted(creds, 'repository:sr-made/app:push,pull')).toEqual({ 'repository:sr-made/app': ['pull', 'push'] });
    expect((await call('POST', '/api/v1/projects', { auth: creds, body: { name: 'sr-made' } })).status).toBe(409);

    expect((await call('GET', '/api/v1/projects/sr-made', { auth: creds })).status).toBe(200);
    expect((await call('GET', '/api/v1/projects/sr-a', { auth: creds })).status).toBe(200);
    expect((await call('GET', '/api/v1/projects/sr-b', { auth: creds })).status).toBe(404);
    const names = (await call('GET', '/api/v1/projects', { auth: creds })).body.items.map((p: { name: string }) => p.name).sort();
    expect(names).toEqual(['sr-a', 'sr-made']);
    for (const [method, path] of [
      ['GET', '/api/v1/me'],
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/robots'],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/registries'],
      ['GET', '/api/v1/projects/sr-made/members'],
      ['GET', '/api/v1/projects/sr-made/robots'],
      ['PATCH', '/api/v1/projects/sr-made'],
      ['DELETE', '/api/v1/projects/sr-made'],
      ['POST', '/api/v1/users/admin/tokens'],
    ] as const) {
      const r = await call(method, path, { auth: creds, body: method === 'GET' || method === 'DELETE' ? undefined : method === 'PATCH' ? { public: true } : { name: 'x' } });
      expect(r.status, `${method} ${path}`).toBe(403);
    }

    // a deleted project leaves its list: a new project of that name is not covered
    expect((await call('DELETE', '/api/v1/projects/sr-made', { auth: admin })).status).toBe(204);
    const after = (await call('GET', '/api/v1/robots', { auth: admin })).body.items.find((r: { name: string }) => r.name === 'robot$creator');
    expect(after.projects).toEqual(['sr-a']);
    await project('sr-made');
    expect(await granted(creds, 'repository:sr-made/app:pull')).toEqual({ 'repository:sr-made/app': [] });

    // without createProjects: 403, nothing made
    const plain = await robot({ name: 'no-create', permissions: ['pull'], projects: '*' });
    const refused = await call('POST', '/api/v1/projects', { auth: plain, body: { name: 'sr-not-made' } });
    expect(refused.status).toBe(403);
    expect((await call('GET', '/api/v1/projects/sr-not-made', { auth: admin })).status).toBe(404);
    expect((await auditRows(suite.api, 'project_create', 'sr-not-made')).length).toBe(0);
  });
});
