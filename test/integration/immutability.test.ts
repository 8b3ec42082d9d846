import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../support/tables';
import { skopeoCopy, skopeoDelete, skopeoInspect } from '../support/clients';
import { startDockerd, type DockerdHandle } from '../support/dockerd';
import { buildImage, type BuiltImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { createPolicyAndWait, executionTasks, policyExecutions, waitTagsKnown } from '../support/replication-api';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Immutable tags against the real registry: rules, a moved tag put back, deletes refused, replication leaving them alone. */

const PASSWORD = 'immutable-password-1';
const RULES = [{ repositories: '**', tags: 'release-*' }];
let w: TestWharf;
let plain: PlainRegistry;
let dockerd: DockerdHandle | undefined;
let work: string;
let imageA: BuiltImage;
let imageB: BuiltImage;

const api = (...args: Parameters<TestWharf['api']>) => w.api(...args);
const dev = `dev:${PASSWORD}`;
const owner = `owner:${PASSWORD}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-immutable-'));
  const started = await Promise.allSettled([startTestWharf(), startPlainRegistry(), startDockerd()]);
  if (started[0].status === 'fulfilled') w = started[0].value;
  if (started[1].status === 'fulfilled') plain = started[1].value;
  if (started[2].status === 'fulfilled') dockerd = started[2].value;
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  [imageA, imageB] = await Promise.all([buildImage(path.join(work, 'a'), { tag: 'v1', layers: 1 }), buildImage(path.join(work, 'b'), { tag: 'v1', layers: 1 })]);
  for (const u of ['owner', 'dev', 'guest', 'stranger'])
    expect((await api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PASSWORD } })).status).toBe(201);
  expect((await api('POST', '/api/v1/projects', { auth: owner, body: { name: 'team' } })).status).toBe(201);
  await api('PUT', '/api/v1/projects/team/members/dev', { auth: owner, body: { role: 'developer' } });
  await api('PUT', '/api/v1/projects/team/members/guest', { auth: owner, body: { role: 'guest' } });
  expect((await api('POST', '/api/v1/registries', { auth: admin, body: { name: 'plain', url: plain.url, kind: 'distribution' } })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([w?.stop(), plain?.stop(), dockerd?.stop()]);
  await rm(work, { recursive: true, force: true });
}, 60_000);

async function push(src: string, ref: string, creds = dev) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: creds });
  expect(r.code, r.stderr).toBe(0);
}

/** The digest the registry answers for a reference, or null. */
async function digestAt(ref: string): Promise<string | null> {
  const r = await skopeoInspect(`docker://${ref}`, admin);
  return r.code === 0 ? (JSON.parse(r.stdout) as { Digest: string }).Digest : null;
}

/** The digest of a tag in Wharf's tag state. */
async function stateDigest(repository: string, tag: string): Promise<string | null> {
  const r = await api('GET', `/api/v1/repositories/${encodeURIComponent(repository)}/tags`, { auth: admin });
  return (r.body.items as { name: string; digest: string }[] | undefined)?.find((t) => t.name === tag)?.digest ?? null;
}

/** The detail (JSON) of the newest audit row of an action: the API leaves it out. */
async function detailOf(action: string): Promise<unknown> {
  const [row] = await w.wharf.deps.db.select({ detail: audit.detail }).from(audit).where(eq(audit.action, action)).orderBy(desc(audit.id)).limit(1);
  return row?.detail ? JSON.parse(row.detail) : null;
}

const violations = async () => (await api('GET', '/api/v1/audit?action=immutable_violation', { auth: admin })).body.items as any[];

describe('immutability rules', () => {
  it('a projectAdmin sets and reads them; the change is audited with the old and new rules', async () => {
    const put = await api('PUT', '/api/v1/projects/team/immutability', { auth: owner, body: { rules: RULES } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toEqual({ rules: RULES });
    expect((await api('GET', '/api/v1/projects/team/immutability', { auth: admin })).body).toEqual({ rules: RULES });
    const audited = await api('GET', '/api/v1/audit?action=immutability_set', { auth: admin });
    expect(audited.body.items[0]).toMatchObject({ username: 'owner', project: 'team' });
    expect(await detailOf('immutability_set')).toEqual({ old: [], new: RULES });
  });

  it('bad input is 400 naming the rule and field, and changes nothing; others are 403 or 404', async () => {
    const tooMany = Array.from({ length: 51 }, (_, i) => ({ repositories: `r${i}`, tags: '*' }));
    const cases: [unknown, RegExp][] = [
      [{ rules: [RULES[0], { repositories: 'app', tags: 'a/b' }] }, /rules\[1\]\.tags/],
      [{ rules: [{ repositories: '/app', tags: 'x' }] }, /rules\[0\]\.repositories/],
      [{ rules: [{ repositories: '', tags: 'x' }] }, /rules\[0\]\.repositories/],
      [{ rules: tooMany }, /at most 50/],
      [{ rules: [{ repositories: 'a', tags: 'b', keep: 'always' }] }, /.+/],
      [{ rules: 'release-*' }, /.+/],
      [{}, /.+/],
    ];
    for (const [body, message] of cases) {
      const r = await api('PUT', '/api/v1/projects/team/immutability', { auth: owner, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await api('GET', '/api/v1/projects/team/immutability', { auth: owner })).body).toEqual({ rules: RULES });
    expect((await api('PUT', '/api/v1/projects/nope/immutability', { auth: admin, body: { rules: [] } })).status).toBe(404);
    expect((await api('GET', '/api/v1/projects/nope/immutability', { auth: admin })).status).toBe(404);
    for (const who of [dev, `guest:${PASSWORD}`]) {
      expect((await api('PUT', '/api/v1/projects/team/immutability', { auth: who, body: { rules: [] } })).status).toBe(403);
      expect((await api('GET', '/api/v1/projects/team/immutability', { auth: who })).status).toBe(403);
    }
    expect((await api('PUT', '/api/v1/projects/team/immutability', { auth: `stranger:${PASSWORD}`, body: { rules: [] } })).status).toBe(404);
    expect((await api('GET', '/api/v1/projects/team/immutability', { auth: owner })).body).toEqual({ rules: RULES });
  });
});

describe('an immutable tag', () => {
  it('moved by a push is put back on its image and audited with the pusher; a push policy copies the restored image', async () => {
    // An event-triggered push policy mirrors team → mirror at the plain registry.
    await createPolicyAndWait(api, admin, {
      name: 'mirror',
      direction: 'push',
      registry: 'plain',
      project: 'team',
      destination: 'mirror',
      replicateExisting: false,
      trigger: { type: 'event' },
    });
    await push(`oci:${imageA.dir}:v1`, 'team/app:release-1');
    await push(`oci:${imageB.dir}:v1`, 'team/app:scratch');
    await waitTagsKnown(api, admin, 'team/app', ['release-1', 'scratch']);
    expect(await violations()).toEqual([]);
    const mirrored = () => policyExecutions(api, admin, 'mirror');
    const settledRuns = async (n: number) => {
      const runs = await mirrored();
      return runs.length === n && runs.every((x) => !['pending', 'running'].includes(x.status));
    };
    await waitFor(() => settledRuns(1), 20_000, 'the first copy to the mirror');
    expect(await digestAt(`${plain.host}/mirror/app:release-1`)).toBe(imageA.manifestDigest);

    await push(`oci:${imageB.dir}:v1`, 'team/app:release-1');
    await waitFor(async () => (await digestAt(`${w.registry}/team/app:release-1`)) === imageA.manifestDigest && (await stateDigest('team/app', 'release-1')) === imageA.manifestDigest, 20_000, 'release-1 back on A');
    const [v, ...more] = await violations();
    expect(more).toEqual([]);
    expect(v).toMatchObject({ username: 'dev', project: 'team', repository: 'team/app', tag: 'release-1', digest: imageB.manifestDigest });
    expect(await detailOf('immutable_violation')).toMatchObject({ old: imageA.manifestDigest, new: imageB.manifestDigest });

    // The restore's own push is no violation and the tag stays on A.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await violations()).toHaveLength(1);
    expect(await digestAt(`${w.registry}/team/app:release-1`)).toBe(imageA.manifestDigest);
    // The violating push is not replicated; the restore queues one more copy of the tag (a copy
    // queued before it could have run while the tag pointed at B): the mirror ends on A.
    await waitFor(() => settledRuns(2), 20_000, 'a copy after the restore');
    const [after] = await mirrored();
    expect((await executionTasks(api, admin, after.id)).map((t: any) => [t.tag, t.status, t.reason])).toEqual([['release-1', 'skipped', 'exists']]);
    expect(await digestAt(`${plain.host}/mirror/app:release-1`)).toBe(imageA.manifestDigest);
  });

  it('a first push of a new matching tag is no violation', async () => {
    await push(`oci:${imageB.dir}:v1`, 'team/app:release-2');
    await waitTagsKnown(api, admin, 'team/app', ['release-2']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await digestAt(`${w.registry}/team/app:release-2`)).toBe(imageB.manifestDigest);
    expect(await violations()).toHaveLength(1);
  });

  it('cannot be deleted at the registry (no delete in the token) nor through the API (409); other tags can', async () => {
    const skopeo = await skopeoDelete(`docker://${w.registry}/team/app@${imageA.manifestDigest}`, admin);
    expect(skopeo.code).not.toBe(0);
    expect(await digestAt(`${w.registry}/team/app:release-1`)).toBe(imageA.manifestDigest);

    const refused = await api('DELETE', '/api/v1/repositories/team%2Fapp/tags/release-1', { auth: owner });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('tag_immutable');
    expect(await digestAt(`${w.registry}/team/app:release-1`)).toBe(imageA.manifestDigest);
    expect(await stateDigest('team/app', 'release-1')).toBe(imageA.manifestDigest);

    const ok = await api('DELETE', '/api/v1/repositories/team%2Fapp/tags/scratch', { auth: dev });
    expect(ok.status, JSON.stringify(ok.body)).toBe(204);
    expect(await stateDigest('team/app', 'scratch')).toBeNull();
    expect(await digestAt(`${w.registry}/team/app:release-2`)).toBe(imageB.manifestDigest);
  });

  it('a pull policy leaves an existing immutable local tag alone (override on) and may create a new one', async () => {
    for (const tag of ['release-1', 'release-9']) {
      const r = await skopeoCopy(`oci:${imageB.dir}:v1`, `docker://${plain.host}/lib/app:${tag}`);
      expect(r.code, r.stderr).toBe(0);
    }
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'pull-app',
      direction: 'pull',
      registry: 'plain',
      project: 'team',
      filters: { repositories: ['lib/app'] },
      override: true,
      trigger: { type: 'manual' },
    });
    const tasks = await executionTasks(api, admin, execution.id);
    const byTag = Object.fromEntries(tasks.map((t: any) => [t.tag, [t.status, t.reason]]));
    expect(byTag).toEqual({ 'release-1': ['skipped', 'immutable'], 'release-9': ['succeeded', null] });
    expect(await digestAt(`${w.registry}/team/app:release-1`)).toBe(imageA.manifestDigest);
    expect(await digestAt(`${w.registry}/team/app:release-9`)).toBe(imageB.manifestDigest);
    expect(await violations()).toHaveLength(1);
  });

  it('docker push of another image over it ends with the tag where it was', async () => {
    const client = await dockerd!.client('dev');
    expect((await client.login(w.registry, 'dev', PASSWORD)).code).toBe(0);
    const ref = `${w.registry}/team/docker:release-1`;
    await dockerd!.importImage(ref, 'first');
    const first = await client.run(['push', ref]);
    expect(first.code, first.stderr).toBe(0);
    const original = /digest: (sha256:[0-9a-f]{64})/.exec(first.stdout)?.[1];
    expect(original).toBeTruthy();
    await waitTagsKnown(api, admin, 'team/docker', ['release-1']);
    await dockerd!.importImage(ref, 'second');
    const second = await client.run(['push', ref]);
    expect(second.code, second.stderr).toBe(0);
    const moved = /digest: (sha256:[0-9a-f]{64})/.exec(second.stdout)?.[1];
    expect(moved).toBeTruthy();
    expect(moved).not.toBe(original);
    await waitFor(async () => (await digestAt(ref)) === original && (await stateDigest('team/docker', 'release-1')) === original, 20_000, 'docker tag back');
    expect((await violations())[0]).toMatchObject({ username: 'dev', repository: 'team/docker', tag: 'release-1', digest: moved });
  });
});
