import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, projects, repositories, users } from '../support/tables';
import { userPrincipal } from '../../src/identity/authenticate';
import { createSession } from '../../src/identity/sessions';
import { findUser } from '../../src/identity/users';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Re-used names inherit nothing: audit visibility follows creation, and leftovers at the registry are reported. */

const PW = 'visibility-password-1';
let work: string;
let image: BuiltImage;
let w: TestWharf;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-reborn-'));
  image = await buildImage(path.join(work, 'img'), { tag: 'v1' });
  w = await startTestWharf({ reconcileIntervalSeconds: 0 });
  for (const u of ['first', 'second', 'third'])
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PW } })).status).toBe(201);
});
afterAll(async () => {
  await w?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const db = () => w.wharf.deps.db;
const auditAs = async (user: string, query = '') => {
  const res = await w.api('GET', `/api/v1/audit?pageSize=500${query}`, { auth: `${user}:${PW}` });
  expect(res.status).toBe(200);
  return res.body.items as { id: number; action: string; username: string; project: string | null; resource: string | null }[];
};

/** Pushes reborn/app, deletes it through the API, and waits until Wharf has forgotten the repository. */
async function pushAndEmpty(creds: string) {
  const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/reborn/app:v1`, { destCreds: creds });
  expect(pushed.code, pushed.stderr).toBe(0);
  await waitFor(() => firstRow(db().select().from(repositories).where(eq(repositories.name, 'reborn/app'))), 20_000, 'the push event');
  expect((await w.api('DELETE', `/api/v1/repositories/${encodeURIComponent('reborn/app')}`, { auth: creds })).status).toBe(204);
  await waitFor(async () => !await firstRow(db().select().from(repositories).where(eq(repositories.name, 'reborn/app'))), 20_000, 'the repository to go');
}

describe('a project re-created with an old name', () => {
  it('says which repositories the registry still holds under the name; its members see none of the predecessor\'s audit rows', async () => {
    expect((await w.api('POST', '/api/v1/projects', { auth: `first:${PW}`, body: { name: 'reborn' } })).status).toBe(201);
    await pushAndEmpty(`first:${PW}`);
    expect((await w.api('DELETE', '/api/v1/projects/reborn', { auth: `first:${PW}` })).status).toBe(204);
    const predecessorRows = await db().select().from(audit).where(eq(audit.project, 'reborn'));
    expect(predecessorRows.map((r) => r.action)).toEqual(expect.arrayContaining(['project_create', 'push', 'repository_delete', 'project_delete']));

    // The catalog still lists reborn/app: its manifests are gone, its layers stay until garbage collection.
    const again = await w.api('POST', '/api/v1/projects', { auth: `second:${PW}`, body: { name: 'reborn' } });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ name: 'reborn', public: false, createdBy: 'second', role: 'projectAdmin', repositoryCount: 0 });
    expect(again.body.leftoverRepositories).toEqual(['reborn/app']);
    expect(again.body.leftoverNote).toMatch(/garbage collection/);

    // A name with nothing at the registry: the contract's shape, nothing more.
    const fresh = await w.api('POST', '/api/v1/projects', { auth: `second:${PW}`, body: { name: 'rebornx' } });
    expect(fresh.status).toBe(201);
    expect(fresh.body).not.toHaveProperty('leftoverRepositories');
    expect(fresh.body).not.toHaveProperty('leftoverNote');

    // The new projectAdmin sees the new project's rows only, not first's push, delete and project rows.
    const seen = await auditAs('second', '&project=reborn');
    expect(seen.map((r) => r.action)).toEqual(['project_create']);
    expect(seen[0]!.username).toBe('second');
    expect(seen.map((r) => r.id)).not.toEqual(expect.arrayContaining(predecessorRows.map((r) => r.id)));
    // first is no member of the new project and sees only what they did themselves.
    expect((await auditAs('first', '&project=reborn')).every((r) => r.username === 'first')).toBe(true);

    // Within the creation's own millisecond: a predecessor's row stays hidden, a row of the new project shows.
    const created = (await firstRow(db().select().from(projects).where(eq(projects.name, 'reborn'))))!;
    const lastOld = predecessorRows.find((r) => r.action === 'project_delete')!;
    await db().update(audit).set({ time: created.createdAt }).where(eq(audit.id, lastOld.id));
    await db().insert(audit).values({ time: created.createdAt, username: 'second', action: 'member_set', project: 'reborn', resource: 'third' });
    const edge = await auditAs('second', '&project=reborn');
    expect(edge.map((r) => r.action).sort()).toEqual(['member_set', 'project_create']);
  });

  it('the web interface says so after creating', async () => {
    expect((await w.api('DELETE', '/api/v1/projects/reborn', { auth: `second:${PW}` })).status).toBe(204);
    const session = await createSession(w.wharf.deps, userPrincipal((await findUser(db(), 'third'))!, 'password'), { ip: '127.0.0.1' });
    const cookie = `wharf_session=${session.cookieValue}`;
    const posted = await fetch(`${w.url}/projects`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: session.csrfToken, name: 'reborn' }).toString(),
      redirect: 'manual',
    });
    expect(posted.status).toBe(303);
    const page = await fetch(new URL(posted.headers.get('location')!, w.url), { headers: { cookie, 'accept-language': 'en' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Project created.');
    expect(html).toContain('The registry still holds 1 repository of an earlier project with this name: reborn/app.');
    // A project with nothing left over gets the plain notice only.
    const plain = await fetch(`${w.url}/projects`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: session.csrfToken, name: 'brandnew' }).toString(),
      redirect: 'manual',
    });
    const plainPage = await (await fetch(new URL(plain.headers.get('location')!, w.url), { headers: { cookie } })).text();
    expect(plainPage).toContain('Project created.');
    expect(plainPage).not.toContain('earlier project');
  });
});

describe('a user re-created with an old name', () => {
  it('sees their own rows from their creation on, none of the predecessor\'s', async () => {
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'phoenix', password: PW } })).status).toBe(201);
    expect((await w.api('POST', '/api/v1/users/phoenix/tokens', { auth: `phoenix:${PW}`, body: { name: 'old-ci' } })).status).toBe(201);
    const oldRows = await db().select().from(audit).where(eq(audit.username, 'phoenix'));
    expect(oldRows.map((r) => r.action)).toContain('token_create');
    expect((await w.api('DELETE', '/api/v1/users/phoenix', { auth: admin })).status).toBe(204);

    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'phoenix', password: PW } })).status).toBe(201);
    expect((await w.api('POST', '/api/v1/users/phoenix/tokens', { auth: `phoenix:${PW}`, body: { name: 'new-ci' } })).status).toBe(201);
    const mine = await auditAs('phoenix');
    expect(mine.filter((r) => r.action === 'token_create').map((r) => r.resource)).toEqual([expect.stringContaining('new-ci')]);
    expect(mine.map((r) => r.id)).not.toEqual(expect.arrayContaining(oldRows.map((r) => r.id)));

    // Same millisecond as the new account's creation: the predecessor's row stays hidden.
    const reborn = (await firstRow(db().select().from(users).where(eq(users.username, 'phoenix'))))!;
    await db().update(audit).set({ time: reborn.createdAt }).where(and(eq(audit.id, oldRows[0]!.id)));
    expect((await auditAs('phoenix')).map((r) => r.id)).not.toContain(oldRows[0]!.id);
  });
});
