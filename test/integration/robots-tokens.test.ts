import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { personalTokens, robots } from '../support/tables';
import { skopeoCopy, skopeoDelete, skopeoInspect, type ExecResult } from '../support/clients';
import { ctrPull, startContainerd, type ContainerdHandle } from '../support/containerd';
import { buildImage, type BuiltImage } from '../support/oci';
import { everyStoredValue } from '../support/test-database';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import { MANIFEST_ACCEPT } from '../../src/registry/media-types';

/**
 * Robot accounts (`robot$<project>+<name>`) and personal access tokens (`wpat_...`) against a real
 * Wharf and its real supervised registry: what each credential may do at the registry (skopeo's
 * GET token flow, containerd's OAuth2 POST flow), that a robot never leaves its project, that the
 * secrets are shown once and never stored in clear, and that expiry, disable, delete and revoke
 * bite on the very next use.
 *
 * Projects: `rb` (private, projectAdmin padmin; dev developer; gst guest; the pat* users and
 * leaver developers or guests), `other` (private) and `pubother` (public), both admin's.
 */

const PW = 'robots-password-1';
const PADMIN = `padmin:${PW}`;
const DEV = `dev:${PW}`;
const GUEST = `gst:${PW}`;
const OUTSIDER = `outsider:${PW}`;

type Perm = 'pull' | 'push' | 'delete';
const SUBSETS: Perm[][] = [['pull'], ['push'], ['pull', 'push'], ['pull', 'push', 'delete'], ['delete']];
const keyOf = (perms: Perm[]) => perms.join('-');

interface RobotCreds {
  name: string;
  secret: string;
  creds: string;
}

let w: TestWharf;
let work: string;
/** Seeded by admin into every project. */
let seedImg: BuiltImage;
/** Only ever pushed into `rb` (keeps skopeo's blob-mount candidates inside the robot's project). */
let pushImg: BuiltImage;
let containerd: ContainerdHandle;
let SERVICE: string;
const subsetRobots = new Map<string, RobotCreds>();
let fullRobot: RobotCreds;

const db = () => w.wharf.deps.db;
const ref = (repoAndTag: string) => `docker://${w.registry}/${repoAndTag}`;
const basic = (creds: string) => ({ authorization: `Basic ${Buffer.from(creds).toString('base64')}` });
const itemsOf = (body: any): any[] => (Array.isArray(body) ? body : body.items);

function claims(token: string): { sub?: string; access: { type: string; name: string; actions: string[] }[] } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

/** A registry token from Wharf's GET token endpoint. */
async function registryToken(creds: string | undefined, scopes: string[]) {
  const qs = new URLSearchParams({ service: SERVICE });
  for (const s of scopes) qs.append('scope', s);
  const res = await fetch(`${w.url}/service/token?${qs}`, { headers: creds ? basic(creds) : {} });
  const body = (await res.json().catch(() => null)) as any;
  return { status: res.status, body, access: body?.token ? claims(body.token).access : undefined };
}

/** Whether the registry holds `repo:tag`, asked with an admin token: true (200) or false (404), else it throws. */
async function atRegistry(repo: string, tag: string): Promise<boolean> {
  const t = await registryToken(admin, [`repository:${repo}:pull`]);
  expect(t.status).toBe(200);
  const res = await fetch(`http://${w.registry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${t.body.token}`, accept: MANIFEST_ACCEPT },
  });
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw new Error(`HEAD ${repo}:${tag} as admin answered ${res.status}`);
}

const DENIED = /unauthorized|denied|authentication required|401|403/i;

function expectOk(r: ExecResult, what: string) {
  expect(r.code, `${what} should succeed: ${r.stderr}`).toBe(0);
}
function expectDenied(r: ExecResult, what: string) {
  expect(r.code, `${what} should be refused`).not.toBe(0);
  expect(r.stderr, what).toMatch(DENIED);
}

const pull = (repoAndTag: string, creds?: string) => skopeoInspect(ref(repoAndTag), creds, { raw: true });
const push = (repoAndTag: string, creds?: string, img = pushImg) => skopeoCopy(`oci:${img.dir}:${img.tag}`, ref(repoAndTag), { destCreds: creds });

async function makeRobot(project: string, name: string, permissions: Perm[], extra: Record<string, unknown> = {}, auth = PADMIN): Promise<RobotCreds> {
  const r = await w.api('POST', `/api/v1/projects/${project}/robots`, { auth, body: { name, permissions, ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { name: r.body.name, secret: r.body.secret, creds: `${r.body.name}:${r.body.secret}` };
}

async function listRobotNames(project: string, auth = PADMIN): Promise<string[]> {
  const r = await w.api('GET', `/api/v1/projects/${project}/robots`, { auth });
  expect(r.status).toBe(200);
  return itemsOf(r.body).map((x: { name: string }) => x.name);
}

async function makeToken(username: string, name: string, extra: Record<string, unknown> = {}): Promise<RobotCreds> {
  const r = await w.api('POST', `/api/v1/users/${username}/tokens`, { auth: `${username}:${PW}`, body: { name, ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { name: r.body.name, secret: r.body.secret, creds: `${username}:${r.body.secret}` };
}

/** Every byte of the SQLite database (main file and WAL), or every value PostgreSQL holds: a secret must appear nowhere in it. */
async function databaseBytes(): Promise<Buffer> {
  if (w.wharf.database.engine === 'postgres') return Buffer.from(await everyStoredValue(w.wharf.deps.db));
  const file = path.join(w.dataDir, 'wharf.db');
  const candidates = [file, `${file}-wal`];
  const parts = await Promise.all(candidates.filter((f) => existsSync(f)).map((f) => readFile(f)));
  expect(parts.length, 'database file found').toBeGreaterThan(0);
  return Buffer.concat(parts);
}

async function auditRows(action: string, extra = ''): Promise<any[]> {
  const r = await w.api('GET', `/api/v1/audit?action=${action}&pageSize=500${extra}`, { auth: admin });
  expect(r.status).toBe(200);
  return r.body.items;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-robots-'));
  [w, seedImg, pushImg, containerd] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'seed'), { tag: 'v1', layers: 1 }),
    buildImage(path.join(work, 'push'), { tag: 'v1', layers: 1 }),
    startContainerd(),
  ]);
  SERVICE = w.wharf.deps.config.token.service;
  const users = ['padmin', 'dev', 'gst', 'outsider', 'patdev', 'patguest', 'patexp', 'leaver'];
  await Promise.all(
    users.map(async (u) => expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PW } })).status).toBe(201)),
  );
  expect((await w.api('POST', '/api/v1/projects', { auth: PADMIN, body: { name: 'rb' } })).status).toBe(201);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'other' } })).status).toBe(201);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'pubother', public: true } })).status).toBe(201);
  for (const [u, role] of [
    ['dev', 'developer'],
    ['gst', 'guest'],
    ['patdev', 'developer'],
    ['patguest', 'guest'],
    ['patexp', 'developer'],
    ['leaver', 'developer'],
  ])
    expect((await w.api('PUT', `/api/v1/projects/rb/members/${u}`, { auth: PADMIN, body: { role } })).status).toBe(200);

  const seeds = ['rb/seed:1', 'other/seed:1', 'pubother/seed:1', 'rb/victim-raw:1', ...SUBSETS.map((s) => `rb/victim-${keyOf(s)}:1`)];
  await Promise.all(seeds.map(async (s) => expectOk(await push(s, admin, seedImg), `seed ${s}`)));

  for (const perms of SUBSETS) subsetRobots.set(keyOf(perms), await makeRobot('rb', `p-${keyOf(perms)}`, perms));
  fullRobot = await makeRobot('rb', 'full', ['pull', 'push', 'delete']);

  // The registry's notifications reach Wharf's tag state.
  await waitFor(async () => {
    const r = await w.api('GET', '/api/v1/repositories?pageSize=500', { auth: admin });
    const names = itemsOf(r.body).map((x: { name: string }) => x.name);
    return ['rb/seed', 'other/seed', 'pubother/seed'].every((n) => names.includes(n));
  }, 20_000, 'seeded repositories in the tag state');
}, 120_000);

afterAll(async () => {
  await Promise.all([w?.stop(), containerd?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * What the real registry (Distribution) requires of a token, and so what a robot's permissions
 * allow through each client:
 *  - GET/HEAD need `pull`; POST/PUT/PATCH (blob uploads, manifest put) need `pull` AND `push`;
 *    DELETE needs `delete` only.
 *  - So a push (skopeo copy) works only with pull+push: a push-only robot gets a token with `push`
 *    and the registry refuses its first blob upload.
 *  - `skopeo delete` asks for `repository:<name>:*`, GETs the manifest to learn its digest, then
 *    DELETEs by digest: it needs pull AND delete. A delete-only robot fails at the GET (nothing is
 *    deleted), although the registry itself would accept its DELETE (shown in the raw test below).
 */
const canPull = (p: Perm[]) => p.includes('pull');
const canPush = (p: Perm[]) => p.includes('pull') && p.includes('push');
const canSkopeoDelete = (p: Perm[]) => p.includes('pull') && p.includes('delete');

describe('robot permissions at the real registry (skopeo)', () => {
  it.each(SUBSETS.map((s) => [keyOf(s), s] as const))('robot [%s]: pull', async (_k, perms) => {
    const r = await pull('rb/seed:1', subsetRobots.get(keyOf(perms))!.creds);
    if (canPull(perms)) {
      expectOk(r, 'pull');
      expect(JSON.parse(r.stdout).config.digest).toBe(seedImg.configDigest);
    } else expectDenied(r, 'pull');
  });

  it.each(SUBSETS.map((s) => [keyOf(s), s] as const))('robot [%s]: push', async (k, perms) => {
    const target = `rb/pushed-${k}`;
    const r = await push(`${target}:1`, subsetRobots.get(k)!.creds);
    if (canPush(perms)) {
      expectOk(r, 'push');
      expect(await atRegistry(target, '1')).toBe(true);
    } else {
      expectDenied(r, 'push');
      expect(await atRegistry(target, '1'), 'nothing reached the registry').toBe(false);
    }
  });

  it.each(SUBSETS.map((s) => [keyOf(s), s] as const))('robot [%s]: delete of an image pushed by admin', async (k, perms) => {
    const victim = `rb/victim-${k}`;
    expect(await atRegistry(victim, '1')).toBe(true);
    const r = await skopeoDelete(ref(`${victim}:1`), subsetRobots.get(k)!.creds);
    if (canSkopeoDelete(perms)) {
      expectOk(r, 'delete');
      expect(await atRegistry(victim, '1')).toBe(false);
    } else {
      expectDenied(r, 'delete');
      expect(await atRegistry(victim, '1'), 'the victim is still there').toBe(true);
    }
  });

  it('the registry itself: a delete-only robot can DELETE by digest but not GET; a push-only robot cannot start an upload', async () => {
    const del = subsetRobots.get('delete')!.creds;
    const t = await registryToken(del, ['repository:rb/victim-raw:*']);
    expect(t.status).toBe(200);
    expect(t.access).toEqual([{ type: 'repository', name: 'rb/victim-raw', actions: ['delete'] }]);
    const auth = { authorization: `Bearer ${t.body.token}` };
    const get = await fetch(`http://${w.registry}/v2/rb/victim-raw/manifests/1`, { headers: { ...auth, accept: MANIFEST_ACCEPT } });
    expect(get.status).toBe(401);
    const gone = await fetch(`http://${w.registry}/v2/rb/victim-raw/manifests/${seedImg.manifestDigest}`, { method: 'DELETE', headers: auth });
    expect(gone.status).toBe(202);
    expect(await atRegistry('rb/victim-raw', '1')).toBe(false);

    const pushOnly = await registryToken(subsetRobots.get('push')!.creds, ['repository:rb/raw-push:pull,push']);
    expect(pushOnly.access).toEqual([{ type: 'repository', name: 'rb/raw-push', actions: ['push'] }]);
    const upload = await fetch(`http://${w.registry}/v2/rb/raw-push/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pushOnly.body.token}` },
    });
    expect(upload.status).toBe(401);
  });

  it('a robot pull through containerd (OAuth2 POST flow): allowed with pull, refused without, refused in another project', async () => {
    expectOk(await ctrPull(containerd.address, `${w.registry}/rb/seed:1`, { user: subsetRobots.get('pull')!.creds }), 'ctr pull by [pull]');
    expectDenied(await ctrPull(containerd.address, `${w.registry}/rb/seed:1`, { user: subsetRobots.get('push')!.creds, namespace: 'np' }), 'ctr pull by [push]');
    expectDenied(await ctrPull(containerd.address, `${w.registry}/other/seed:1`, { user: fullRobot.creds, namespace: 'xp' }), 'ctr pull of other/');
    // The POST flow itself answers 401 for a wrong secret.
    const form = new URLSearchParams({ grant_type: 'password', service: SERVICE, username: fullRobot.name, password: 'wrb_wrong', scope: 'repository:rb/seed:pull' });
    const res = await fetch(`${w.url}/service/token`, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(401);
  });

  it('a push by a robot is attributed to the robot in the tag state', async () => {
    // rb/pushed-pull-push was pushed above by robot$rb+p-pull-push.
    const tags = await waitFor(async () => {
      const r = await w.api('GET', '/api/v1/repositories/rb%2Fpushed-pull-push/tags', { auth: PADMIN });
      return r.status === 200 && r.body.items.length > 0 ? r.body.items : null;
    }, 20_000, 'robot push in the tag state');
    // Found: the registry token Wharf issues to a robot has an empty `sub`, so the registry's
    // notification carries no actor and the push is recorded as "anonymous".
    expect(tags[0].pushedBy).toBe('robot$rb+p-pull-push');
  });

  it('a push by a robot is audited under the robot’s name', async () => {
    const rows: any[] = (await waitFor(async () => {
      const items = await auditRows('push', '&repository=rb%2Fpushed-pull-push');
      return items.length > 0 ? items : null;
    }, 20_000, 'push audit row'))!;
    expect([...new Set(rows.map((a) => a.username))]).toEqual(['robot$rb+p-pull-push']);
  });

  it('through the API, a robot deletes in its own project only with the delete permission', async () => {
    await waitFor(async () => (await w.api('GET', '/api/v1/repositories/rb%2Fpushed-pull-push-delete/tags', { auth: admin })).body?.items?.length > 0);
    const path = '/api/v1/repositories/rb%2Fpushed-pull-push-delete/tags/1';
    expect((await w.api('DELETE', path, { auth: subsetRobots.get('pull-push')!.creds })).status).toBe(403);
    expect(await atRegistry('rb/pushed-pull-push-delete', '1')).toBe(true);
    expect((await w.api('DELETE', path, { auth: subsetRobots.get('delete')!.creds })).status).toBe(204);
    expect(await atRegistry('rb/pushed-pull-push-delete', '1')).toBe(false);
  });
});

describe('a robot never acts outside its project', () => {
  it('pull and push to another project (private and public) and to the default project are refused at the registry', async () => {
    const [pPriv, pPub] = await Promise.all([pull('other/seed:1', fullRobot.creds), pull('pubother/seed:1', fullRobot.creds)]);
    expectDenied(pPriv, 'pull other/');
    expectDenied(pPub, 'pull pubother/ (public)');
    const pushes = await Promise.all(['other/robot-push:1', 'pubother/robot-push:1', 'robot-push:1'].map((t) => push(t, fullRobot.creds)));
    pushes.forEach((r, i) => expectDenied(r, `push #${i}`));
    expect(await atRegistry('other/robot-push', '1')).toBe(false);
    expect(await atRegistry('pubother/robot-push', '1')).toBe(false);
    expect(await atRegistry('robot-push', '1')).toBe(false);
    const del = await skopeoDelete(ref('pubother/seed:1'), fullRobot.creds);
    expectDenied(del, 'delete in pubother/');
    expect(await atRegistry('pubother/seed', '1')).toBe(true);
  });

  it('the token endpoint grants nothing outside its project, and only its permissions inside it', async () => {
    const t = await registryToken(subsetRobots.get('pull')!.creds, [
      'repository:other/seed:pull,push,delete',
      'repository:pubother/seed:pull',
      'repository:seed:pull',
      'repository:rb/seed:pull,push,delete',
      'registry:catalog:*',
    ]);
    expect(t.status).toBe(200);
    expect(t.access).toEqual([{ type: 'repository', name: 'rb/seed', actions: ['pull'] }]);
  });

  it('through the API: own project only, and no user or admin endpoints', async () => {
    const R = fullRobot.creds;
    const own = await w.api('GET', '/api/v1/repositories?project=rb', { auth: R });
    expect(own.status).toBe(200);
    expect(itemsOf(own.body).map((x: { name: string }) => x.name)).toContain('rb/seed');
    expect((await w.api('GET', '/api/v1/repositories?project=other', { auth: R })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/repositories?project=pubother', { auth: R })).status).toBe(404);
    const all = await w.api('GET', '/api/v1/repositories?pageSize=500', { auth: R });
    expect(all.status).toBe(200);
    expect(itemsOf(all.body).every((x: { project: string }) => x.project === 'rb')).toBe(true);
    const projects = await w.api('GET', '/api/v1/projects', { auth: R });
    expect(projects.status).toBe(200);
    expect(itemsOf(projects.body).map((p: { name: string }) => p.name)).toEqual(['rb']);

    expect((await w.api('POST', '/api/v1/projects', { auth: R, body: { name: 'robotmade' } })).status).toBe(403);
    expect((await w.api('PUT', '/api/v1/projects/rb/members/outsider', { auth: R, body: { role: 'developer' } })).status).toBe(403);
    expect((await w.api('GET', '/api/v1/users', { auth: R })).status).toBe(403);
    // Who belongs to its project is none of a robot's business.
    expect((await w.api('GET', '/api/v1/projects/rb/members', { auth: R })).status).toBe(403);
    expect((await w.api('GET', '/api/v1/projects/rb/groups', { auth: R })).status).toBe(403);
    expect((await w.api('POST', '/api/v1/projects/rb/robots', { auth: R, body: { name: 'spawned', permissions: ['pull'] } })).status).toBe(403);
    expect((await w.api('GET', '/api/v1/audit', { auth: R })).status).toBe(403);
    expect((await w.api('POST', '/api/v1/users/padmin/tokens', { auth: R, body: { name: 'steal' } })).status).toBe(403);
    // Another project's tag, via the API delete: not even visible.
    expect((await w.api('DELETE', '/api/v1/repositories/pubother%2Fseed/tags/1', { auth: R })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/repositories/pubother%2Fseed/tags', { auth: R })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/repositories/other%2Fseed/tags', { auth: R })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/projects/pubother', { auth: R })).status).toBe(404);
    expect(await atRegistry('pubother/seed', '1')).toBe(true);

    // Nothing changed.
    expect((await w.api('GET', '/api/v1/projects/robotmade', { auth: admin })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/projects/rb/members', { auth: PADMIN })).body.map((m: { username: string }) => m.username)).not.toContain('outsider');
    expect(await listRobotNames('rb')).not.toContain('robot$rb+spawned');
  });
});

describe('robot secrets and input', () => {
  it('the secret is shown once, never listed, and not stored in clear', async () => {
    const r = await w.api('POST', '/api/v1/projects/rb/robots', { auth: PADMIN, body: { name: 'once', permissions: ['pull'] } });
    expect(r.status).toBe(201);
    expect(r.body.name).toBe('robot$rb+once');
    expect(typeof r.body.secret).toBe('string');
    expect(r.body.secret.length).toBeGreaterThanOrEqual(32);
    const secret: string = r.body.secret;

    for (const auth of [PADMIN, admin]) {
      const list = await w.api('GET', '/api/v1/projects/rb/robots', { auth });
      expect(list.status).toBe(200);
      const item = itemsOf(list.body).find((x: { name: string }) => x.name === 'robot$rb+once');
      expect(item).toMatchObject({ name: 'robot$rb+once', permissions: ['pull'], disabled: false });
      expect(JSON.stringify(list.body)).not.toContain(secret);
      for (const x of itemsOf(list.body)) {
        expect(x).not.toHaveProperty('secret');
        expect(x).not.toHaveProperty('secretHash');
      }
    }

    const row = (await firstRow(db().select().from(robots).where(eq(robots.name, 'once'))))!;
    expect(row).toBeDefined();
    expect(row.secretHash).not.toContain(secret);
    expect(secret).not.toContain(row.secretHash);
    expect((await databaseBytes()).includes(Buffer.from(secret)), 'the secret appears in the database file').toBe(false);

    // The secret works only with its own robot name.
    expectOk(await pull('rb/seed:1', `robot$rb+once:${secret}`), 'pull with the secret');
    const used = itemsOf((await w.api('GET', '/api/v1/projects/rb/robots', { auth: PADMIN })).body).find((x: any) => x.name === 'robot$rb+once');
    expect(used.lastUsedAt).toBeTruthy();
    expect((await registryToken(`robot$rb+p-pull:${secret}`, ['repository:rb/seed:pull'])).status).toBe(401);
    expect((await registryToken(`robot$other+once:${secret}`, ['repository:rb/seed:pull'])).status).toBe(401);
    expect((await registryToken(`padmin:${secret}`, ['repository:rb/seed:pull'])).status).toBe(401);
  });

  it('duplicate name → 409; bad names, permissions, expiry and unknown fields → 400; nothing created', async () => {
    const before = await listRobotNames('rb');
    const dup = await w.api('POST', '/api/v1/projects/rb/robots', { auth: PADMIN, body: { name: 'full', permissions: ['pull'] } });
    expect(dup.status).toBe(409);
    expect(dup.body).not.toHaveProperty('secret');

    const bad: Record<string, unknown>[] = [
      { name: 'CI', permissions: ['pull'] },
      { name: 'a$b', permissions: ['pull'] },
      { name: 'a b', permissions: ['pull'] },
      { name: 'a+b', permissions: ['pull'] },
      { name: 'a'.repeat(65), permissions: ['pull'] },
      { name: '', permissions: ['pull'] },
      { name: 'ok1', permissions: [] },
      { name: 'ok2', permissions: ['admin'] },
      { name: 'ok3', permissions: ['pull', 'admin'] },
      { name: 'ok4', permissions: ['pull'], expiresInDays: 0 },
      { name: 'ok5', permissions: ['pull'], expiresInDays: 99999 },
      { name: 'ok6', permissions: ['pull'], expiresInDays: -1 },
      { name: 'ok7', permissions: ['pull'], admin: true },
      { name: 'ok8', permissions: ['pull'], secret: 'wrb_chosen-by-me' },
      { name: 'ok9' },
    ];
    for (const body of bad) {
      const r = await w.api('POST', '/api/v1/projects/rb/robots', { auth: PADMIN, body });
      expect(r.status, JSON.stringify(body).slice(0, 120)).toBe(400);
      expect(r.body.error?.code).toBeTruthy();
    }
    // 64 characters is the limit, and is fine.
    const long = await makeRobot('rb', 'a'.repeat(64), ['pull']);
    expect(long.name).toBe(`robot$rb+${'a'.repeat(64)}`);
    expect((await w.api('DELETE', `/api/v1/projects/rb/robots/${'a'.repeat(64)}`, { auth: PADMIN })).status).toBe(204);
    expect(await listRobotNames('rb')).toEqual(before);
  });

  it('only a projectAdmin (or system admin) manages robots: developer/guest 403, outsider 404, anonymous 401', async () => {
    const body = { name: 'sneaky', permissions: ['pull', 'push'] };
    for (const [auth, status] of [
      [DEV, 403],
      [GUEST, 403],
      [OUTSIDER, 404],
      [undefined, 401],
    ] as const) {
      const c = await w.api('POST', '/api/v1/projects/rb/robots', { ...(auth ? { auth } : {}), body });
      expect(c.status, `create as ${auth ?? 'anonymous'}`).toBe(status);
      expect(c.body).not.toHaveProperty('secret');
      expect((await w.api('GET', '/api/v1/projects/rb/robots', auth ? { auth } : {})).status, `list as ${auth ?? 'anonymous'}`).toBe(status);
      expect((await w.api('PATCH', '/api/v1/projects/rb/robots/full', { ...(auth ? { auth } : {}), body: { disabled: true } })).status).toBe(status);
      expect((await w.api('DELETE', '/api/v1/projects/rb/robots/full', auth ? { auth } : {})).status).toBe(status);
    }
    expect(await listRobotNames('rb')).not.toContain('robot$rb+sneaky');
    expectOk(await pull('rb/seed:1', fullRobot.creds), 'the robot everyone failed to touch still works');
    // A system admin may create one; another project's path cannot reach rb's robots.
    const byAdmin = await makeRobot('rb', 'by-admin', ['pull'], {}, admin);
    expect(byAdmin.name).toBe('robot$rb+by-admin');
    expect((await w.api('DELETE', `/api/v1/projects/other/robots/${encodeURIComponent('robot$rb+by-admin')}`, { auth: admin })).status).toBe(404);
    expect(await listRobotNames('rb')).toContain('robot$rb+by-admin');
  });
});

describe('expiry, disable and deletion of robots take effect at once', () => {
  it('(a) expiry: past expires_at → the next pull fails and the token endpoint answers 401', async () => {
    const r = await makeRobot('rb', 'expiring', ['pull'], { expiresInDays: 30 });
    const listed = itemsOf((await w.api('GET', '/api/v1/projects/rb/robots', { auth: PADMIN })).body).find((x: any) => x.name === r.name);
    expect(Math.abs(Date.parse(listed.expiresAt) - (Date.now() + 30 * 86_400_000))).toBeLessThan(10 * 60_000);
    expectOk(await pull('rb/seed:1', r.creds), 'pull before expiry');
    await db().update(robots).set({ expiresAt: new Date(Date.now() - 60_000).toISOString() }).where(eq(robots.name, 'expiring'));
    expectDenied(await pull('rb/seed:1', r.creds), 'pull after expiry');
    expect((await registryToken(r.creds, ['repository:rb/seed:pull'])).status).toBe(401);
    expect((await w.api('GET', '/api/v1/repositories?project=rb', { auth: r.creds })).status).toBe(401);
  });

  it('(b) PATCH disabled:true → fails; disabled:false → works again', async () => {
    const r = await makeRobot('rb', 'toggled', ['pull']);
    expectOk(await pull('rb/seed:1', r.creds), 'pull while enabled');
    const off = await w.api('PATCH', '/api/v1/projects/rb/robots/toggled', { auth: PADMIN, body: { disabled: true } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ name: 'robot$rb+toggled', disabled: true });
    expect(off.body).not.toHaveProperty('secret');
    expectDenied(await pull('rb/seed:1', r.creds), 'pull while disabled');
    expect((await registryToken(r.creds, ['repository:rb/seed:pull'])).status).toBe(401);
    expect((await w.api('PATCH', '/api/v1/projects/rb/robots/toggled', { auth: PADMIN, body: { disabled: 'no' } })).status).toBe(400);
    expect((await w.api('PATCH', '/api/v1/projects/rb/robots/toggled', { auth: PADMIN, body: { permissions: ['push'] } })).status).toBe(400);
    const on = await w.api('PATCH', `/api/v1/projects/rb/robots/${encodeURIComponent('robot$rb+toggled')}`, { auth: PADMIN, body: { disabled: false } });
    expect(on.status).toBe(200);
    expect(on.body.disabled).toBe(false);
    expectOk(await pull('rb/seed:1', r.creds), 'pull after re-enabling');
    expect((await w.api('PATCH', '/api/v1/projects/rb/robots/nosuch', { auth: PADMIN, body: { disabled: true } })).status).toBe(404);
  });

  it('(c) DELETE → fails at once; the name can be reused and the old secret stays dead', async () => {
    const r = await makeRobot('rb', 'doomed', ['pull']);
    expectOk(await pull('rb/seed:1', r.creds), 'pull before delete');
    expect((await w.api('DELETE', `/api/v1/projects/rb/robots/${encodeURIComponent('robot$rb+doomed')}`, { auth: PADMIN })).status).toBe(204);
    expectDenied(await pull('rb/seed:1', r.creds), 'pull after delete');
    expect((await registryToken(r.creds, ['repository:rb/seed:pull'])).status).toBe(401);
    expect((await w.api('GET', '/api/v1/repositories?project=rb', { auth: r.creds })).status).toBe(401);
    expect(await listRobotNames('rb')).not.toContain('robot$rb+doomed');
    expect((await w.api('DELETE', '/api/v1/projects/rb/robots/doomed', { auth: PADMIN })).status).toBe(404);

    const again = await makeRobot('rb', 'doomed', ['pull']);
    expect(again.secret).not.toBe(r.secret);
    expect((await registryToken(r.creds, ['repository:rb/seed:pull'])).status).toBe(401);
    expectOk(await pull('rb/seed:1', again.creds), 'pull with the new secret');
  });

  it('audit rows robot_create, robot_update and robot_delete exist, without secrets', async () => {
    const created = await auditRows('robot_create', '&project=rb');
    expect(created.map((a) => a.resource)).toEqual(expect.arrayContaining(['robot$rb+full', 'robot$rb+toggled', 'robot$rb+doomed', 'robot$rb+by-admin']));
    expect(created.find((a) => a.resource === 'robot$rb+by-admin').username).toBe('admin');
    expect(created.find((a) => a.resource === 'robot$rb+full').username).toBe('padmin');
    const updated = await auditRows('robot_update', '&project=rb');
    expect(updated.filter((a) => a.resource === 'robot$rb+toggled').length).toBeGreaterThanOrEqual(2);
    const deleted = await auditRows('robot_delete', '&project=rb');
    expect(deleted.map((a) => a.resource)).toContain('robot$rb+doomed');
    expect(deleted.find((a) => a.resource === 'robot$rb+doomed').username).toBe('padmin');
    // The robot's failed logins are audited too.
    const failed = await auditRows('login_failed');
    expect(failed.map((a) => a.username)).toContain('robot$rb+doomed');
    const all = JSON.stringify([...created, ...updated, ...deleted]);
    for (const r of [fullRobot, ...subsetRobots.values()]) expect(all).not.toContain(r.secret);
  });
});

describe('personal access tokens', () => {
  let patdev: RobotCreds;
  let patguest: RobotCreds;

  it('a user creates one for themself: 201 with a wpat_ secret; skopeo and the API accept it as the user', async () => {
    patdev = await makeToken('patdev', 'ci', { expiresInDays: 30 });
    expect(patdev.name).toBe('ci');
    expect(patdev.secret).toMatch(/^wpat_/);
    patguest = await makeToken('patguest', 'ro');
    expect(patguest.secret).toMatch(/^wpat_/);

    // developer: push and pull in rb
    expectOk(await push('rb/pat-push:1', patdev.creds), 'push with a developer token');
    expect(await atRegistry('rb/pat-push', '1')).toBe(true);
    expectOk(await pull('rb/seed:1', patdev.creds), 'pull with a developer token');
    // but not outside the user's projects
    expectDenied(await pull('other/seed:1', patdev.creds), 'pull other/ with a developer token');
    // guest: pull only
    expectOk(await pull('rb/seed:1', patguest.creds), 'pull with a guest token');
    expectDenied(await push('rb/pat-guest-push:1', patguest.creds), 'push with a guest token');
    expect(await atRegistry('rb/pat-guest-push', '1')).toBe(false);
    // containerd (POST flow) too
    expectOk(await ctrPull(containerd.address, `${w.registry}/rb/seed:1`, { user: patguest.creds, namespace: 'pat' }), 'ctr pull with a token');

    const me = await w.api('GET', '/api/v1/me', { auth: patdev.creds });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: 'patdev', admin: false });
    const projects = await w.api('GET', '/api/v1/projects', { auth: patdev.creds });
    expect(itemsOf(projects.body).map((p: { name: string }) => p.name)).toContain('rb');
  });

  it('lists carry no secrets; the secret is not stored in clear', async () => {
    for (const auth of [`patdev:${PW}`, patdev.creds, admin]) {
      const list = await w.api('GET', '/api/v1/users/patdev/tokens', { auth });
      expect(list.status, auth.split(':')[0]).toBe(200);
      const items = itemsOf(list.body);
      expect(items.map((t: { name: string }) => t.name)).toEqual(['ci']);
      expect(Math.abs(Date.parse(items[0].expiresAt) - (Date.now() + 30 * 86_400_000))).toBeLessThan(10 * 60_000);
      expect(items[0]).not.toHaveProperty('secret');
      expect(items[0]).not.toHaveProperty('secretHash');
      expect(JSON.stringify(list.body)).not.toContain(patdev.secret);
    }
    const rows = await db().select().from(personalTokens);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) {
      expect(row.secretHash).not.toContain(patdev.secret);
      expect(row.secretHash).not.toContain(patguest.secret);
      expect(row.secretHash).not.toMatch(/^wpat_/);
    }
    const bytes = await databaseBytes();
    expect(bytes.includes(Buffer.from(patdev.secret)), 'token secret in the database file').toBe(false);
    expect(bytes.includes(Buffer.from(patguest.secret)), 'token secret in the database file').toBe(false);
  });

  it('nobody mints a token for someone else (not even a system admin); others may not list or revoke', async () => {
    for (const auth of [admin, PADMIN, `patguest:${PW}`, patguest.creds]) {
      const r = await w.api('POST', '/api/v1/users/patdev/tokens', { auth, body: { name: `for-patdev-${auth.split(':')[0]}` } });
      expect(r.status, `mint as ${auth.split(':')[0]}`).toBe(403);
      expect(r.body).not.toHaveProperty('secret');
    }
    expect((await w.api('POST', '/api/v1/users/patdev/tokens', { body: { name: 'anon' } })).status).toBe(401);
    for (const auth of [PADMIN, `patguest:${PW}`]) {
      expect((await w.api('GET', '/api/v1/users/patdev/tokens', { auth })).status).toBe(403);
      expect((await w.api('DELETE', '/api/v1/users/patdev/tokens/ci', { auth })).status).toBe(403);
    }
    const list = await w.api('GET', '/api/v1/users/patdev/tokens', { auth: admin });
    expect(itemsOf(list.body).map((t: { name: string }) => t.name)).toEqual(['ci']);
    expectOk(await pull('rb/seed:1', patdev.creds), 'token untouched by the refused calls');
  });

  it('bad input: duplicate name 409, bad name / expiry / unknown field 400', async () => {
    const U = `patdev:${PW}`;
    expect((await w.api('POST', '/api/v1/users/patdev/tokens', { auth: U, body: { name: 'ci' } })).status).toBe(409);
    for (const body of [
      { name: '' },
      { name: 'a b' },
      { name: 'a'.repeat(65) },
      { name: 'x', expiresInDays: 0 },
      { name: 'x', expiresInDays: 99999 },
      { name: 'x', admin: true },
      { name: 'x', secret: 'wpat_mine' },
      {},
    ]) {
      const r = await w.api('POST', '/api/v1/users/patdev/tokens', { auth: U, body });
      expect(r.status, JSON.stringify(body).slice(0, 100)).toBe(400);
    }
    expect(itemsOf((await w.api('GET', '/api/v1/users/patdev/tokens', { auth: U })).body).map((t: { name: string }) => t.name)).toEqual(['ci']);
  });

  it('a token with the wrong user name fails', async () => {
    expectDenied(await pull('rb/seed:1', `patguest:${patdev.secret}`), 'pull as patguest with patdev’s token');
    expectDenied(await push('rb/pat-wrong-user:1', `dev:${patdev.secret}`), 'push as dev with patdev’s token');
    expect(await atRegistry('rb/pat-wrong-user', '1')).toBe(false);
    expect((await w.api('GET', '/api/v1/me', { auth: `patguest:${patdev.secret}` })).status).toBe(401);
    expect((await w.api('GET', '/api/v1/me', { auth: `admin:${patdev.secret}` })).status).toBe(401);
  });

  it('revoke (self, or admin for someone else) → the next skopeo and API call fail at once', async () => {
    expect((await w.api('DELETE', '/api/v1/users/patdev/tokens/ci', { auth: `patdev:${PW}` })).status).toBe(204);
    expectDenied(await pull('rb/seed:1', patdev.creds), 'pull with a revoked token');
    expect((await w.api('GET', '/api/v1/me', { auth: patdev.creds })).status).toBe(401);
    expect((await registryToken(patdev.creds, ['repository:rb/seed:pull'])).status).toBe(401);
    expect(itemsOf((await w.api('GET', '/api/v1/users/patdev/tokens', { auth: `patdev:${PW}` })).body)).toEqual([]);
    expect((await w.api('DELETE', '/api/v1/users/patdev/tokens/ci', { auth: `patdev:${PW}` })).status).toBe(404);
    // The password still works.
    expect((await w.api('GET', '/api/v1/me', { auth: `patdev:${PW}` })).status).toBe(200);

    expectOk(await pull('rb/seed:1', patguest.creds), 'guest token before the admin revokes it');
    expect((await w.api('DELETE', '/api/v1/users/patguest/tokens/ro', { auth: admin })).status).toBe(204);
    expectDenied(await pull('rb/seed:1', patguest.creds), 'pull with a token revoked by admin');
    expect((await w.api('GET', '/api/v1/me', { auth: patguest.creds })).status).toBe(401);
  });

  it('expiry via the database → fails at once', async () => {
    const t = await makeToken('patexp', 'soon', { expiresInDays: 1 });
    expectOk(await pull('rb/seed:1', t.creds), 'pull before expiry');
    expect((await w.api('GET', '/api/v1/me', { auth: t.creds })).status).toBe(200);
    await db().update(personalTokens).set({ expiresAt: new Date(Date.now() - 60_000).toISOString() }).where(eq(personalTokens.name, 'soon'));
    expectDenied(await pull('rb/seed:1', t.creds), 'pull after expiry');
    expect((await w.api('GET', '/api/v1/me', { auth: t.creds })).status).toBe(401);
  });

  it('a disabled user’s token fails', async () => {
    const t = await makeToken('leaver', 'laptop');
    expectOk(await pull('rb/seed:1', t.creds), 'pull before disable');
    expect((await w.api('PATCH', '/api/v1/users/leaver', { auth: admin, body: { disabled: true } })).status).toBe(200);
    expectDenied(await pull('rb/seed:1', t.creds), 'pull by a disabled user’s token');
    expect((await w.api('GET', '/api/v1/me', { auth: t.creds })).status).toBe(401);
    expect((await registryToken(t.creds, ['repository:rb/seed:pull'])).status).toBe(401);
  });

  it('audit rows token_create and token_delete, without secrets', async () => {
    const created = await auditRows('token_create');
    expect(created.map((a) => a.resource)).toEqual(expect.arrayContaining(['patdev/ci', 'patguest/ro', 'patexp/soon', 'leaver/laptop']));
    expect(created.find((a) => a.resource === 'patdev/ci').username).toBe('patdev');
    const deleted = await auditRows('token_delete');
    expect(deleted.find((a) => a.resource === 'patdev/ci')?.username).toBe('patdev');
    expect(deleted.find((a) => a.resource === 'patguest/ro')?.username).toBe('admin');
    const all = JSON.stringify([...created, ...deleted]);
    expect(all).not.toContain(patdev.secret);
    expect(all).not.toContain(patguest.secret);
  });
});
