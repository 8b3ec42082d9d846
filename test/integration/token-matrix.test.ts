import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoDelete, skopeoInspect } from '../support/clients';
import { ctrPull, startContainerd, type ContainerdHandle } from '../support/containerd';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * The role matrix at the real registry: every subject × action × project visibility, through
 * skopeo (GET token flow) and containerd's ctr (OAuth2 POST flow). Allowed cells must succeed and
 * denied cells must fail at the registry itself.
 */

type Subject = 'admin' | 'padmin' | 'dev' | 'guest' | 'outsider' | 'anonymous';
const SUBJECTS: Subject[] = ['admin', 'padmin', 'dev', 'guest', 'outsider', 'anonymous'];
const PROJECTS = ['priv', 'pub'] as const;
const PASSWORD = 'matrix-password-1';

const creds = (s: Subject): string | undefined => (s === 'anonymous' ? undefined : s === 'admin' ? admin : `${s}:${PASSWORD}`);

function expected(subject: Subject, action: 'pull' | 'push' | 'delete', project: (typeof PROJECTS)[number]): boolean {
  if (subject === 'admin' || subject === 'padmin' || subject === 'dev') return true;
  if (subject === 'guest') return action === 'pull';
  return action === 'pull' && project === 'pub';
}

let w: TestWharf;
let work: string;
let image: BuiltImage;
let index: BuiltIndex;
let containerd: ContainerdHandle;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-matrix-'));
  [w, image, index, containerd] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'image'), { tag: 'v1' }),
    buildIndex(path.join(work, 'index'), { tag: 'multi' }),
    startContainerd(),
  ]);
  for (const u of ['padmin', 'dev', 'guest', 'outsider'])
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PASSWORD } })).status).toBe(201);
  for (const p of PROJECTS) {
    expect((await w.api('POST', '/api/v1/projects', { auth: `padmin:${PASSWORD}`, body: { name: p, public: p === 'pub' } })).status).toBe(201);
    for (const [u, role] of [
      ['dev', 'developer'],
      ['guest', 'guest'],
    ])
      expect((await w.api('PUT', `/api/v1/projects/${p}/members/${u}`, { auth: `padmin:${PASSWORD}`, body: { role } })).status).toBe(200);
    // Seed images, pushed by the system admin: one to pull, one per subject to delete.
    const seeds = ['seed', ...SUBJECTS.map((s) => `victim-${s}`)];
    await Promise.all(
      seeds.map(async (repo) => {
        const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/${p}/${repo}:1`, { destCreds: admin });
        expect(r.code, r.stderr).toBe(0);
      }),
    );
    const r = await skopeoCopy(`oci:${index.dir}:multi`, `docker://${w.registry}/${p}/multi:1`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([w?.stop(), containerd?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe.each(PROJECTS)('project %s', (project) => {
  it.each(SUBJECTS)('pull by %s through skopeo', async (subject) => {
    const r = await skopeoInspect(`docker://${w.registry}/${project}/seed:1`, creds(subject), { raw: true });
    if (expected(subject, 'pull', project)) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).config.digest).toBe(image.configDigest);
    } else {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unauthorized|denied|authentication required/i);
    }
  });

  it.each(SUBJECTS)('push by %s through skopeo', async (subject) => {
    const ref = `docker://${w.registry}/${project}/pushed-by-${subject}:1`;
    const r = await skopeoCopy(`oci:${image.dir}:v1`, ref, { destCreds: creds(subject) });
    const after = await skopeoInspect(ref, admin, { raw: true });
    if (expected(subject, 'push', project)) {
      expect(r.code, r.stderr).toBe(0);
      expect(after.code, after.stderr).toBe(0);
    } else {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unauthorized|denied|authentication required/i);
      // Nothing reached the registry.
      expect(after.code).not.toBe(0);
      expect(after.stderr).toMatch(/manifest unknown|not found/i);
    }
  });

  it.each(SUBJECTS)('delete by %s through skopeo', async (subject) => {
    const ref = `docker://${w.registry}/${project}/victim-${subject}:1`;
    const r = await skopeoDelete(ref, creds(subject));
    const after = await skopeoInspect(ref, admin, { raw: true });
    if (expected(subject, 'delete', project)) {
      expect(r.code, r.stderr).toBe(0);
      expect(after.code).not.toBe(0);
    } else {
      expect(r.code).not.toBe(0);
      expect(after.code, after.stderr).toBe(0);
    }
  });

  it.each(SUBJECTS)('pull of an image and an OCI index by %s through ctr (OAuth2 POST)', async (subject) => {
    const user = creds(subject);
    for (const repo of ['seed', 'multi']) {
      const r = await ctrPull(containerd.address, `${w.registry}/${project}/${repo}:1`, user ? { user } : {});
      if (expected(subject, 'pull', project)) expect(r.code, r.stderr).toBe(0);
      else {
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/401|403|unauthorized|denied/i);
      }
    }
  });
});

describe('credentials at the registry', () => {
  it('a wrong password fails for skopeo and ctr', async () => {
    const bad = await skopeoInspect(`docker://${w.registry}/pub/seed:1`, 'dev:wrong-password');
    expect(bad.code).not.toBe(0);
    const badCtr = await ctrPull(containerd.address, `${w.registry}/priv/seed:1`, { user: 'dev:wrong-password' });
    expect(badCtr.code).not.toBe(0);
  });

  it('a disabled user is refused like a wrong password', async () => {
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'leaver', password: PASSWORD } })).status).toBe(201);
    expect((await w.api('PUT', '/api/v1/projects/priv/members/leaver', { auth: `padmin:${PASSWORD}`, body: { role: 'developer' } })).status).toBe(200);
    const before = await skopeoInspect(`docker://${w.registry}/priv/seed:1`, `leaver:${PASSWORD}`);
    expect(before.code, before.stderr).toBe(0);
    expect((await w.api('PATCH', '/api/v1/users/leaver', { auth: admin, body: { disabled: true } })).status).toBe(200);
    const after = await skopeoInspect(`docker://${w.registry}/priv/seed:1`, `leaver:${PASSWORD}`);
    expect(after.code).not.toBe(0);
    const token = await fetch(`${w.url}/service/token?service=wharf-registry`, {
      headers: { authorization: `Basic ${Buffer.from(`leaver:${PASSWORD}`).toString('base64')}` },
    });
    expect(token.status).toBe(401);
  });

  it('the catalog is for system admins only', async () => {
    const asAdmin = await fetchCatalog(admin);
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.repositories).toEqual(expect.arrayContaining(['priv/seed', 'pub/seed']));
    for (const who of [`padmin:${PASSWORD}`, undefined]) expect((await fetchCatalog(who)).status).toBe(401);
  });
});

/** The registry's catalog with a token from Wharf, as a client would do it. */
async function fetchCatalog(user?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = user ? { authorization: `Basic ${Buffer.from(user).toString('base64')}` } : {};
  const t = await fetch(`${w.url}/service/token?service=wharf-registry&scope=registry:catalog:*`, { headers });
  const { token } = (await t.json()) as { token: string };
  const res = await fetch(`http://${w.registry}/v2/_catalog?n=1000`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}
