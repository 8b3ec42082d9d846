import { contextFor } from '../../src/context';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, manifests, projects, repositories, tags } from '../support/tables';
import { skopeoCopy, skopeoDelete, skopeoInspect } from '../support/clients';
import { ctrPull, startContainerd, type ContainerdHandle } from '../support/containerd';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { startPlainRegistry } from '../support/plain-registry';
import { freePort } from '../support/ports';
import { registryView, wharfView } from '../support/registry-view';
import { waitFor } from '../support/wait';
import { lastReconcileReport, reconcile } from '../../src/artifacts/reconcile';
import { openConfiguredDatabase } from '../../src/db/connect';
import { deleteRepository } from '../../src/artifacts/delete';
import { userPrincipal } from '../../src/identity/authenticate';
import { findUser } from '../../src/identity/users';
import type { RegistryClient } from '../../src/registry/client';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Registry notifications → audit and tag state; reconcile; adopting an existing registry. */

let work: string;
let imageA: BuiltImage;
let imageB: BuiltImage;
let index: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-events-'));
  [imageA, imageB, index] = await Promise.all([
    buildImage(path.join(work, 'a'), { tag: 'v1' }),
    buildImage(path.join(work, 'b'), { tag: 'v1' }),
    buildIndex(path.join(work, 'idx'), { tag: 'multi' }),
  ]);
});
afterAll(() => rm(work, { recursive: true, force: true }));

const push = async (w: TestWharf, src: string, ref: string, creds = admin) => {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: creds });
  expect(r.code, r.stderr).toBe(0);
};

async function notify(w: TestWharf, body: unknown, secret?: string) {
  const s = secret ?? (await readFile(path.join(w.dataDir, 'notification-secret'), 'utf8')).trim();
  return fetch(`${w.url}/service/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}

describe('events from a real registry', () => {
  let w: TestWharf;
  let containerd: ContainerdHandle;
  const PASSWORD = 'events-password-1';

  beforeAll(async () => {
    [w, containerd] = await Promise.all([startTestWharf(), startContainerd()]);
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'pusher', password: PASSWORD } });
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'viewer', password: PASSWORD } });
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'stranger', password: PASSWORD } });
    await w.api('POST', '/api/v1/projects', { auth: `pusher:${PASSWORD}`, body: { name: 'team' } });
    await w.api('PUT', '/api/v1/projects/team/members/viewer', { auth: `pusher:${PASSWORD}`, body: { role: 'guest' } });
  });
  afterAll(async () => {
    await Promise.all([w?.stop(), containerd?.stop()]);
  });

  it('push by tag, by digest, an index, two tags on one digest, pulls and a delete end in the same state as the registry', async () => {
    const p = `pusher:${PASSWORD}`;
    await push(w, `oci:${imageA.dir}:v1`, 'team/app:1.0', p);
    await push(w, `oci:${imageA.dir}:v1`, 'team/app:latest', p); // second tag, same digest
    await push(w, `oci:${imageB.dir}:v1`, `team/app@${imageB.manifestDigest}`, p); // by digest, untagged
    await push(w, `oci:${imageB.dir}:v1`, 'team/doomed:1', p);
    await push(w, `oci:${index.dir}:multi`, 'team/multi:1', p);

    // Pulls: skopeo inspect fetches the manifest; ctr pulls an image and an index.
    expect((await skopeoInspect(`docker://${w.registry}/team/app:1.0`, `viewer:${PASSWORD}`)).code).toBe(0);
    expect((await ctrPull(containerd.address, `${w.registry}/team/multi:1`, { user: `viewer:${PASSWORD}` })).code).toBe(0);

    let lastSeen = '';
    const del = await skopeoDelete(`docker://${w.registry}/team/doomed:1`, p);
    expect(del.code, del.stderr).toBe(0);

    await waitFor(async () => {
      const [ours, theirs] = await Promise.all([wharfView(w.url), registryView(w.url, w.registry)]);
      lastSeen = JSON.stringify({ ours, theirs });
      return JSON.stringify(ours) === JSON.stringify(theirs) && ours['team/app']?.['1.0'] && ours['team/multi'] && !ours['team/doomed'];
    }, 20_000, 'tag state equal to the registry').catch((err) => {
      throw new Error(`${err.message}: ${lastSeen}`);
    });
    const ours = await wharfView(w.url);
    expect(ours).toEqual({
      'team/app': { '1.0': imageA.manifestDigest, latest: imageA.manifestDigest },
      'team/multi': { '1': index.indexDigest },
    });

    // The untagged push by digest is a manifest of team/app.
    const db = w.wharf.deps.db;
    const app = (await firstRow(db.select().from(repositories).where(eq(repositories.name, 'team/app'))))!;
    const digests = (await db.select({ d: manifests.digest }).from(manifests).where(eq(manifests.repositoryId, app.id))).map((r) => r.d);
    expect(digests).toEqual(expect.arrayContaining([imageA.manifestDigest, imageB.manifestDigest]));

    // Tag details: size, media type, pusher, platforms of the index (read off the request path).
    await w.wharf.deps.details.idle();
    await waitFor(async () => {
      const t = await w.api('GET', '/api/v1/repositories/team%2Fmulti/tags', { auth: `viewer:${PASSWORD}` });
      return t.body.items[0]?.size > 0 && t.body.items[0].platforms.length === 2;
    });
    const multi = (await w.api('GET', '/api/v1/repositories/team%2Fmulti/tags', { auth: `viewer:${PASSWORD}` })).body.items[0];
    expect(multi).toMatchObject({
      name: '1',
      digest: index.indexDigest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      pushedBy: 'pusher',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const appTags = (await w.api('GET', '/api/v1/repositories/team%2Fapp/tags?q=1.', { auth: admin })).body;
    expect(appTags.total).toBe(1);
    expect(appTags.items[0]).toMatchObject({ name: '1.0', pushedBy: 'pusher', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    expect(appTags.items[0].size).toBeGreaterThan(8000);

    const repos = (await w.api('GET', '/api/v1/repositories?project=team', { auth: admin })).body;
    expect(repos.items.map((r: { name: string; tagCount: number }) => [r.name, r.tagCount])).toEqual([
      ['team/app', 2],
      ['team/multi', 1],
    ]);

    // Audit: pushes with actor and source IP, pulls by the viewer, the delete.
    const rows = await w.api('GET', '/api/v1/audit?repository=team%2Fapp&action=push', { auth: admin });
    expect(rows.body.items.length).toBeGreaterThanOrEqual(3);
    expect(rows.body.items[0]).toMatchObject({ username: 'pusher', project: 'team', sourceIp: '127.0.0.1' });
    const pulls = await w.api('GET', '/api/v1/audit?action=pull&username=viewer', { auth: admin });
    expect(pulls.body.items.map((r: { repository: string }) => r.repository).sort()).toEqual(['team/app', 'team/multi']);
    const deletes = await w.api('GET', '/api/v1/audit?action=delete&repository=team%2Fdoomed', { auth: admin });
    expect(deletes.body.items.length).toBeGreaterThanOrEqual(1);
    // Wharf's own registry reads are neither pulls nor audited.
    expect((await db.select().from(audit).where(eq(audit.username, 'wharf$internal')))).toEqual([]);
  });

  it('pull counts: every GET of a top-level manifest counts; HEADs and the platform GETs of an index do not', async () => {
    // An index of its own: containerd would skip the GET of content it already holds.
    const fresh = await buildIndex(path.join(work, 'counted-idx'), { tag: 'multi' });
    await push(w, `oci:${imageB.dir}:v1`, 'team/counted:1');
    await push(w, `oci:${fresh.dir}:multi`, 'team/counted-index:1');
    await waitFor(async () => (await w.api('GET', '/api/v1/repositories?q=counted', { auth: admin })).body.total === 2);
    await w.wharf.deps.details.idle();
    // Three pulls in a row by one user are three pulls (skopeo GETs the manifest by tag).
    for (let i = 0; i < 3; i++) expect((await skopeoInspect(`docker://${w.registry}/team/counted:1`, `viewer:${PASSWORD}`)).code).toBe(0);
    // ctr resolves the tag (HEAD), then GETs the index and one child by digest: one pull.
    expect((await ctrPull(containerd.address, `${w.registry}/team/counted-index:1`, { user: `viewer:${PASSWORD}` })).code).toBe(0);
    const counts = async () =>
      Object.fromEntries(
        ((await w.api('GET', '/api/v1/repositories?q=counted', { auth: admin })).body.items as { name: string; pullCount: number }[]).map((r) => [
          r.name,
          r.pullCount,
        ]),
      );
    await waitFor(async () => {
      const c = await counts();
      return c['team/counted'] === 3 && c['team/counted-index'] === 1;
    }).catch(async (err) => {
      throw new Error(`${err.message}: ${JSON.stringify(await counts())}`);
    });
    // Give late events a moment: the counts must not grow further.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await counts()).toEqual({ 'team/counted': 3, 'team/counted-index': 1 });
    expect((await w.api('GET', '/api/v1/repositories/team%2Fcounted/tags', { auth: admin })).body.items[0]).toMatchObject({ name: '1', pullCount: 3 });
    const tag = (await w.api('GET', '/api/v1/repositories/team%2Fcounted-index/tags', { auth: admin })).body.items[0];
    expect(tag).toMatchObject({ name: '1', pullCount: 1 });
    expect(tag.lastPulledAt).toBeTruthy();
    const total = (rows: { count: number }[]) => rows.reduce((n, r) => n + r.count, 0);
    const counted = (await w.api('GET', '/api/v1/audit?action=pull&repository=team%2Fcounted', { auth: admin })).body.items;
    expect(total(counted)).toBe(3);
    const rows = (await w.api('GET', '/api/v1/audit?action=pull&repository=team%2Fcounted-index', { auth: admin })).body.items;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: 'viewer', digest: fresh.indexDigest, count: 1 });
  });

  it('a push sets the repository\'s last push time, on a new repository and on one that exists', async () => {
    const repo = 'team/pushed-at';
    const manifestType = 'application/vnd.oci.image.manifest.v1+json';
    const push = (timestamp: string, n: string) => ({
      id: randomUUID(),
      timestamp,
      action: 'push',
      target: { mediaType: manifestType, repository: repo, digest: `sha256:${n.repeat(64)}`, tag: 'latest' },
      actor: { name: 'pusher' },
    });
    const lastPushedAt = async () => (await w.api('GET', '/api/v1/repositories?q=pushed-at', { auth: admin })).body.items[0].lastPushedAt;
    const first = '2026-01-02T03:04:05.000Z';
    expect((await notify(w, { events: [push(first, 'a')] })).status).toBe(200);
    expect(await lastPushedAt()).toBe(first);
    const second = '2026-01-02T03:05:06.000Z';
    expect((await notify(w, { events: [push(second, 'b')] })).status).toBe(200);
    expect(await lastPushedAt()).toBe(second);
  });

  it('pull counts: N pull events of one actor posted to the endpoint count N; HEADs count nothing; the audit folds them', async () => {
    const repo = 'team/fleet';
    const digest = `sha256:${'f'.repeat(64)}`;
    const manifestType = 'application/vnd.oci.image.manifest.v1+json';
    await notify(w, { events: [{ id: randomUUID(), action: 'push', target: { mediaType: manifestType, repository: repo, digest, tag: 'ci' }, actor: { name: 'pusher' } }] });
    const at = new Date().toISOString();
    const pull = (method: string, tag?: string) => ({
      id: randomUUID(),
      timestamp: at,
      action: 'pull',
      target: { mediaType: manifestType, repository: repo, digest, ...(tag ? { tag } : {}) },
      request: { method, addr: '10.1.2.3:4000', useragent: 'ci-runner' },
      actor: { name: 'robot$team+ci' },
    });
    const N = 40;
    const events = [...Array.from({ length: N / 2 }, () => pull('GET', 'ci')), ...Array.from({ length: N / 2 }, () => pull('GET')), pull('HEAD', 'ci'), pull('HEAD')];
    for (let i = 0; i < events.length; i += 7) {
      const res = await notify(w, { events: events.slice(i, i + 7) });
      expect(res.status).toBe(200);
    }
    const r = (await w.api('GET', `/api/v1/repositories?q=fleet`, { auth: admin })).body.items[0];
    expect(r).toMatchObject({ name: repo, pullCount: N, lastPulledAt: at });
    expect((await w.api('GET', '/api/v1/repositories/team%2Ffleet/tags', { auth: admin })).body.items[0]).toMatchObject({ name: 'ci', pullCount: N, lastPulledAt: at });
    const rows = (await w.api('GET', '/api/v1/audit?action=pull&repository=team%2Ffleet', { auth: admin })).body.items as { tag: string | null; count: number }[];
    // One row per tag as asked (by tag, by digest) in this minute, each with its count.
    expect(rows.map((x) => [x.tag ?? '', x.count]).sort()).toEqual([
      ['', N / 2],
      ['ci', N / 2],
    ]);
  });

  it('a blob delete is audited as one, leaves tags alone; a push that makes a project records its pusher', async () => {
    // An admin push into a project nobody made yet creates it, with the pusher as its creator.
    await push(w, `oci:${imageA.dir}:v1`, 'fresh/blobby:1');
    await waitFor(async () => (await w.api('GET', '/api/v1/repositories/fresh%2Fblobby/tags', { auth: admin })).body.total === 1);
    const project = (await w.api('GET', '/api/v1/projects/fresh', { auth: admin })).body;
    expect(project).toMatchObject({ name: 'fresh' });
    const db = w.wharf.deps.db;
    expect((await firstRow(db.select().from(projects).where(eq(projects.name, 'fresh'))))!.createdBy).toBe('admin');
    const created = (await w.api('GET', '/api/v1/audit?action=project_create&project=fresh', { auth: admin })).body.items;
    expect(created.map((r: { username: string }) => r.username)).toEqual(['admin']);

    // The registry sends a blob delete as {action: delete, target: {digest, repository}}, like a manifest's.
    const tagsBefore = await db.select().from(tags);
    const token = await (
      await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:fresh/blobby:delete`, { headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` } })
    ).json();
    const layer = imageA.layerDigests[0]!;
    const del = await fetch(`http://${w.registry}/v2/fresh/blobby/blobs/${layer}`, { method: 'DELETE', headers: { authorization: `Bearer ${(token as { token: string }).token}` } });
    expect(del.status).toBe(202);
    await waitFor(async () => (await w.api('GET', '/api/v1/audit?action=blob_delete&repository=fresh%2Fblobby', { auth: admin })).body.total === 1);
    const row = (await w.api('GET', '/api/v1/audit?action=blob_delete&repository=fresh%2Fblobby', { auth: admin })).body.items[0];
    expect(row).toMatchObject({ username: 'admin', resourceType: 'blob', resource: `fresh/blobby@${layer}`, digest: layer });
    expect((await w.api('GET', '/api/v1/audit?action=delete&repository=fresh%2Fblobby', { auth: admin })).body.total).toBe(0);
    expect((await w.api('GET', '/api/v1/audit?action=image_delete&repository=fresh%2Fblobby', { auth: admin })).body.total).toBe(0);
    expect((await db.select().from(tags))).toEqual(tagsBefore);
    expect((await wharfView(w.url))['fresh/blobby']).toEqual({ '1': imageA.manifestDigest });
  });

  it('visibility: a guest sees the project, a stranger gets 404, anonymous sees nothing private', async () => {
    expect((await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: `viewer:${PASSWORD}` })).status).toBe(200);
    expect((await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: `stranger:${PASSWORD}` })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/repositories/team%2Fapp/tags')).status).toBe(404);
    expect((await w.api('GET', '/api/v1/repositories?project=team', { auth: `stranger:${PASSWORD}` })).status).toBe(404);
    const all = await w.api('GET', '/api/v1/repositories', { auth: `stranger:${PASSWORD}` });
    expect(all.body).toEqual({ items: [], total: 0 });
    const audits = await w.api('GET', '/api/v1/audit?project=team', { auth: `stranger:${PASSWORD}` });
    expect(audits.body.total).toBe(0);
    expect((await w.api('GET', '/api/v1/audit')).status).toBe(401);
  });

  it('the audit filters narrow the rows: project, repository, username, action, since, until, paging', async () => {
    const all = (await w.api('GET', '/api/v1/audit?pageSize=500', { auth: admin })).body;
    expect(all.total).toBe(all.items.length);
    const page2 = (await w.api('GET', '/api/v1/audit?pageSize=2&page=2', { auth: admin })).body;
    expect(page2.items).toEqual(all.items.slice(2, 4));
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await w.api('GET', `/api/v1/audit?since=${future}`, { auth: admin })).body.total).toBe(0);
    expect((await w.api('GET', `/api/v1/audit?until=2000-01-01T00:00:00Z`, { auth: admin })).body.total).toBe(0);
    const byUser = (await w.api('GET', '/api/v1/audit?username=pusher&action=project_create', { auth: admin })).body;
    expect(byUser.items).toHaveLength(1);
    expect(byUser.items[0]).toMatchObject({ project: 'team', resource: 'team' });
    expect((await w.api('GET', '/api/v1/audit?since=yesterday', { auth: admin })).status).toBe(400);
  });

  it('replayed envelopes change nothing', async () => {
    const id = randomUUID();
    const event = {
      id,
      timestamp: new Date().toISOString(),
      action: 'pull',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: imageA.manifestDigest, repository: 'team/app', tag: '1.0' },
      request: { addr: '10.0.0.9:5555', useragent: 'replay' },
      actor: { name: 'someone' },
    };
    const before = await w.wharf.deps.db.select().from(tags);
    const first = await notify(w, { events: [event] });
    expect(await first.json()).toMatchObject({ applied: 1, duplicates: 0 });
    const afterFirst = await w.wharf.deps.db.select().from(tags);
    const auditCount = (await w.wharf.deps.db.select().from(audit)).length;
    for (let i = 0; i < 3; i++) {
      const again = await notify(w, { events: [event] });
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ applied: 0, duplicates: 1 });
    }
    expect((await w.wharf.deps.db.select().from(tags))).toEqual(afterFirst);
    expect((await w.wharf.deps.db.select().from(audit)).length).toBe(auditCount);
    expect(afterFirst.find((t) => t.name === '1.0')!.pullCount).toBe(before.find((t) => t.name === '1.0')!.pullCount + 1);
  });

  it('distribution v3: a v2+json envelope with OCI-descriptor targets, then a tag delete that removes only that tag', async () => {
    const digest = `sha256:${'e'.repeat(64)}`;
    const target = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: 321,
      artifactType: 'application/vnd.example.sbom.v1+json',
      annotations: { 'org.opencontainers.image.title': 'sbom' },
      urls: ['https://mirror.example.org/x'],
      data: Buffer.from('{}').toString('base64'),
      repository: 'team/v3',
    };
    const post = (events: unknown[], type: string) =>
      readFile(path.join(w.dataDir, 'notification-secret'), 'utf8').then((secret) =>
        fetch(`${w.url}/service/notifications`, { method: 'POST', headers: { authorization: `Bearer ${secret.trim()}`, 'content-type': type }, body: JSON.stringify({ events }) }),
      );
    const v2 = 'application/vnd.docker.distribution.events.v2+json';
    const pushed = await post(
      ['a', 'b'].map((tag) => ({ id: randomUUID(), timestamp: '2024-05-01T10:00:00.123456789Z', action: 'push', target: { ...target, tag }, request: { method: 'PUT' }, actor: { name: 'pusher' } })),
      v2,
    );
    expect(await pushed.json()).toMatchObject({ applied: 2, rejected: 0 });
    const deleted = await post([{ id: randomUUID(), action: 'delete', target: { repository: 'team/v3', tag: 'a' }, request: { method: 'DELETE' }, actor: { name: 'pusher' } }], `${v2}; charset=utf-8`);
    expect(await deleted.json()).toMatchObject({ applied: 1, rejected: 0 });
    const tagsLeft = (await w.api('GET', '/api/v1/repositories/team%2Fv3/tags', { auth: admin })).body.items;
    expect(tagsLeft.map((t: { name: string; digest: string }) => [t.name, t.digest])).toEqual([['b', digest]]);
    const db = w.wharf.deps.db;
    const repo = (await firstRow(db.select().from(repositories).where(eq(repositories.name, 'team/v3'))))!;
    expect((await db.select({ d: manifests.digest }).from(manifests).where(eq(manifests.repositoryId, repo.id)))).toEqual([{ d: digest }]);
    // Without a content type, or with v1's, the envelope is read the same way.
    const plain = await fetch(`${w.url}/service/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await readFile(path.join(w.dataDir, 'notification-secret'), 'utf8')).trim()}` },
      body: JSON.stringify({ events: [{ id: randomUUID(), action: 'delete', target: { repository: 'team/v3', tag: 'b' }, actor: { name: 'pusher' } }] }),
    });
    expect(await plain.json()).toMatchObject({ applied: 1 });
    expect((await w.api('GET', '/api/v1/repositories/team%2Fv3/tags', { auth: admin })).body.total).toBe(0);
  });

  it('a wrong or missing secret is refused and stores nothing', async () => {
    const event = {
      id: randomUUID(),
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: imageB.manifestDigest, repository: 'team/intruder', tag: 'x' },
    };
    expect((await notify(w, { events: [event] }, 'wrong')).status).toBe(401);
    const none = await fetch(`${w.url}/service/notifications`, { method: 'POST', body: JSON.stringify({ events: [event] }) });
    expect(none.status).toBe(401);
    expect((await firstRow(w.wharf.deps.db.select().from(repositories).where(eq(repositories.name, 'team/intruder'))))).toBeUndefined();
  });

  it('bad envelopes: 2xx so the queue moves, nothing partial stored, valid events still applied', async () => {
    const count = async () => ({
      repos: (await w.wharf.deps.db.select().from(repositories)).length,
      tags: (await w.wharf.deps.db.select().from(tags)).length,
      audit: (await w.wharf.deps.db.select().from(audit)).length,
    });
    const before = await count();
    const digest = imageB.manifestDigest;
    const bad: unknown[] = [
      'not json at all',
      '[]',
      'null',
      { events: 'nope' },
      { events: [{}] },
      { events: [{ id: 'x1', action: 'push', target: {} }] },
      { events: [{ id: 'x2', action: 'push', target: { repository: 'team/app', digest: 42 } }] },
      { events: [{ id: 'x3', action: 'explode', target: { repository: 'team/app', digest } }] },
      { events: [{ id: 'x4', action: 'push', target: { repository: 'Team/../etc', digest, tag: 'a' } }] },
      { events: [{ id: 'x5', action: 'push', target: { repository: 'team/app', digest: 'sha256:short', tag: 'a' } }] },
      { events: [{ id: 'x6', action: 'push', target: { repository: 'team/app', digest, tag: 'bad tag!' } }] },
      { events: [{ id: 'x7', action: 'delete', target: { repository: 'team/app' } }] },
      { events: [{ id: 'x8', action: 'push', target: { repository: 'team/app', tag: 'nodigest' } }] },
      { events: [null, 1, 'x'] },
    ];
    for (const body of bad) {
      const res = await notify(w, body);
      expect(res.status, JSON.stringify(body)).toBe(200);
    }
    // Oversized envelopes are read to the end and dropped: each gets its 200 on a connection that
    // keeps working, so the next delivery is not lost.
    for (let i = 0; i < 3; i++) {
      const huge = await notify(w, Buffer.alloc(10 * 1024 * 1024, 0x20));
      expect(huge.status).toBe(200);
      expect(await huge.json()).toMatchObject({ applied: 0, rejected: 1 });
      expect((await notify(w, { events: [] })).status).toBe(200);
    }
    expect((await count())).toEqual(before);

    // A digest may contain "_", a LIKE wildcard: a pull of an image is not mistaken for the pull
    // of an index child whose digest differs only there.
    const indexDigest = `sha256:${'d'.repeat(64)}`;
    const child = `sha256:${'c'.repeat(64)}`;
    const lookalike = `sha256:_${'c'.repeat(63)}`;
    const indexType = 'application/vnd.oci.image.index.v1+json';
    await notify(w, { events: [{ id: randomUUID(), action: 'push', target: { mediaType: indexType, repository: 'team/lookalike', digest: indexDigest, tag: 'multi' } }] });
    await w.wharf.deps.db.update(manifests).set({ children: JSON.stringify([{ digest: child }]) }).where(eq(manifests.digest, indexDigest));
    const pulls = async (digest: string) => (await w.wharf.deps.db.select().from(audit).where(and(eq(audit.digest, digest), eq(audit.action, 'pull')))).length;
    for (const digest of [child, lookalike])
      await notify(w, { events: [{ id: randomUUID(), action: 'pull', target: { repository: 'team/lookalike', digest }, actor: { name: 'puller' } }] });
    expect((await pulls(child))).toBe(0); // part of pulling the index
    expect((await pulls(lookalike))).toBe(1);
    const before2 = await count();

    // One bad event beside a good one: the good one lands.
    const mixed = await notify(w, {
      events: [
        { id: randomUUID(), action: 'push', target: { repository: 'UPPER/case', digest, tag: 'a' } },
        { id: randomUUID(), action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/good', digest, tag: 'ok' }, actor: { name: 'pusher' } },
      ],
    });
    expect(await mixed.json()).toMatchObject({ applied: 1, rejected: 1 });
    expect((await count()).repos).toBe(before2.repos + 1);
    expect((await firstRow(w.wharf.deps.db.select().from(repositories).where(eq(repositories.name, 'team/good'))))).toBeTruthy();
    const metrics = await (await fetch(`${w.url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` } })).text();
    expect(metrics).toMatch(/wharf_registry_events_total\{action="unknown",outcome="rejected"\} \d+/);
    expect(metrics).toMatch(/wharf_registry_events_total\{action="push",outcome="received"\} \d+/);
  });
});

describe('lost events and reconcile', () => {
  it('events lost with a registry restart are repaired by reconcile; a registry error never wipes state', async () => {
    // Notifications go to a port nobody listens on: the registry queues them, then loses them when it dies.
    const deadPort = await freePort();
    const w = await startTestWharf({ registry: { notifyUrl: `http://127.0.0.1:${deadPort}/service/notifications` } });
    try {
      await push(w, `oci:${imageA.dir}:v1`, 'library/lost:1');
      await push(w, `oci:${index.dir}:multi`, 'team2/lost:multi');
      process.kill(w.wharf.supervisor!.pid!, 'SIGKILL');
      await waitFor(async () => (await w.api('GET', '/api/v1/health')).status === 200);
      expect(await wharfView(w.url)).toEqual({});

      const started = await w.api('POST', '/api/v1/system/reconcile', { auth: admin });
      expect(started.status).toBe(202);
      await w.wharf.deps.reconciler.idle();
      await w.wharf.deps.reconciler.run();
      expect(await wharfView(w.url)).toEqual(await registryView(w.url, w.registry));
      expect(await wharfView(w.url)).toEqual({ 'library/lost': { '1': imageA.manifestDigest }, 'team2/lost': { multi: index.indexDigest } });
      // The project of a repository nobody created is made private, with no members.
      const team2 = await w.api('GET', '/api/v1/projects/team2', { auth: admin });
      expect(team2.body).toMatchObject({ name: 'team2', public: false });

      // Drift both ways: a tag Wharf thinks exists, and a moved tag.
      const db = w.wharf.deps.db;
      const repo = (await firstRow(db.select().from(repositories).where(eq(repositories.name, 'library/lost'))))!;
      await db.insert(tags).values({ repositoryId: repo.id, name: 'ghost', digest: imageB.manifestDigest });
      await db.update(tags).set({ digest: imageB.manifestDigest }).where(eq(tags.name, '1'));
      const report = await w.wharf.deps.reconciler.run();
      expect(report.removed).toBeGreaterThanOrEqual(1);
      expect(report.repaired).toBe(1);
      expect(await wharfView(w.url)).toEqual(await registryView(w.url, w.registry));
      // The last report is in the database: another instance's system page shows it too.
      const other = await openConfiguredDatabase(w.wharf.deps.config);
      try {
        expect(await lastReconcileReport(other.db)).toMatchObject({ repaired: 1, removed: report.removed, tags: report.tags });
      } finally {
        await other.close();
      }

      // With the registry down, reconcile fails and the state stays.
      await w.wharf.supervisor!.stop();
      await expect(w.wharf.deps.reconciler.run()).rejects.toThrow();
      expect(Object.keys(await wharfView(w.url))).toEqual(['library/lost', 'team2/lost']);
    } finally {
      await w.stop();
    }
  });
});

/**
 * The real registry client with its first call of `method` held until `release()`: lets a test put
 * a push or a delete exactly between what a slow reader (reconcile, a repository delete) has read
 * and what it writes.
 */
function heldAtFirst(real: RegistryClient, method: 'headManifest' | 'deleteManifest') {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const arrived = new Promise<void>((r) => (reached = r));
  let held = false;
  const client = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        if (!held) {
          held = true;
          reached();
          await gate;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client, arrived, release };
}

describe('changes that land while a slow reader works', () => {
  it('a push and a new repository that arrive while reconcile reads the registry are kept, with their pusher', async () => {
    const w = await startTestWharf({ reconcileIntervalSeconds: 0 });
    try {
      await w.wharf.deps.reconciler.idle();
      await push(w, `oci:${imageA.dir}:v1`, 'team3/app:1');
      await waitFor(async () => (await wharfView(w.url))['team3/app']?.['1'] === imageA.manifestDigest);
      const held = heldAtFirst(w.wharf.deps.registry, 'headManifest');
      const running = reconcile({ db: w.wharf.deps.db, clock: w.wharf.deps.clock, registry: held.client, log: w.wharf.deps.log, defaultProject: 'library' });
      await held.arrived; // reconcile has listed team3/app's tags (just "1") and waits on the HEAD
      await push(w, `oci:${imageB.dir}:v1`, 'team3/app:late');
      await push(w, `oci:${imageB.dir}:v1`, 'team3/new:1');
      await waitFor(async () => {
        const view = await wharfView(w.url);
        return !!view['team3/app']?.late && !!view['team3/new']?.['1'];
      });
      held.release();
      await running;
      const view = await wharfView(w.url);
      expect(view).toEqual(await registryView(w.url, w.registry));
      expect(view['team3/app']).toEqual({ '1': imageA.manifestDigest, late: imageB.manifestDigest });
      expect(view['team3/new']).toEqual({ '1': imageB.manifestDigest });
      const late = await w.api('GET', '/api/v1/repositories/team3%2Fapp/tags?q=late', { auth: admin });
      expect(late.body.items[0]).toMatchObject({ name: 'late', pushedBy: 'admin' });
    } finally {
      await w.stop();
    }
  });

  it('a push another instance takes while this one reconciles is kept: the change marks are in the database', async () => {
    const w = await startTestWharf({ reconcileIntervalSeconds: 0 });
    // A second Wharf instance on the same database: its own connection, its own process state.
    const other = await openConfiguredDatabase(w.wharf.deps.config);
    try {
      await w.wharf.deps.reconciler.idle();
      await push(w, `oci:${imageA.dir}:v1`, 'team5/app:1');
      await waitFor(async () => (await wharfView(w.url))['team5/app']?.['1'] === imageA.manifestDigest);
      const held = heldAtFirst(w.wharf.deps.registry, 'headManifest');
      const running = reconcile({ db: other.db, clock: w.wharf.deps.clock, registry: held.client, log: w.wharf.deps.log, defaultProject: 'library' });
      await held.arrived;
      await push(w, `oci:${imageB.dir}:v1`, 'team5/app:late');
      await waitFor(async () => !!(await wharfView(w.url))['team5/app']?.late);
      held.release();
      await running;
      expect((await wharfView(w.url))['team5/app']).toEqual({ '1': imageA.manifestDigest, late: imageB.manifestDigest });
    } finally {
      await other.close();
      await w.stop();
    }
  });

  it('a tag pushed while its repository is being deleted stays, in Wharf as at the registry', async () => {
    const w = await startTestWharf({ reconcileIntervalSeconds: 0 });
    try {
      await push(w, `oci:${imageA.dir}:v1`, 'team4/app:1');
      await push(w, `oci:${imageA.dir}:v1`, 'team4/app:2');
      await waitFor(async () => Object.keys((await wharfView(w.url))['team4/app'] ?? {}).length === 2);
      const held = heldAtFirst(w.wharf.deps.registry, 'deleteManifest');
      const principal = userPrincipal((await findUser(w.wharf.deps.db, 'admin'))!, 'password');
      const deleting = deleteRepository(contextFor({ ...w.wharf.deps, registry: held.client }, principal, { username: 'admin' }), 'team4/app');
      await held.arrived; // the digests to delete are listed; the first DELETE waits
      await push(w, `oci:${imageB.dir}:v1`, 'team4/app:new');
      await waitFor(async () => !!(await wharfView(w.url))['team4/app']?.new);
      held.release();
      expect(await deleting).toBe(1);
      const view = await wharfView(w.url);
      expect(view).toEqual(await registryView(w.url, w.registry));
      expect(view['team4/app']).toEqual({ new: imageB.manifestDigest });
    } finally {
      await w.stop();
    }
  });

  it('two deletes of the same tag at once: one succeeds and is audited once, the other gets 404', async () => {
    const w = await startTestWharf({ reconcileIntervalSeconds: 0 });
    try {
      await push(w, `oci:${imageA.dir}:v1`, 'team5/app:1');
      await push(w, `oci:${imageA.dir}:v1`, 'team5/app:2');
      await waitFor(async () => Object.keys((await wharfView(w.url))['team5/app'] ?? {}).length === 2);
      const statuses = await Promise.all([1, 2, 3].map(() => w.api('DELETE', '/api/v1/repositories/team5%2Fapp/tags/1', { auth: admin }).then((r) => r.status)));
      expect(statuses.sort()).toEqual([204, 404, 404]);
      const rows = await w.wharf.deps.db.select().from(audit).where(eq(audit.action, 'tag_delete'));
      expect(rows.map((r) => r.resource)).toEqual(['team5/app:1']);
      expect((await wharfView(w.url))['team5/app']).toEqual({ '2': imageA.manifestDigest });
      expect((await registryView(w.url, w.registry))['team5/app']).toEqual({ '2': imageA.manifestDigest });
    } finally {
      await w.stop();
    }
  });
});

describe('adopting an existing plain registry', () => {
  it('imports myapp, team/api and a/b/c into projects library, team and a; pulls need tokens from then on', async () => {
    const storage = path.join(work, 'adopt-storage');
    const plain = await startPlainRegistry({ storageDir: storage });
    for (const ref of ['myapp:1', 'team/api:v2', 'a/b/c:latest']) {
      const r = await skopeoCopy(`oci:${imageA.dir}:v1`, `docker://${plain.host}/${ref}`);
      expect(r.code, r.stderr).toBe(0);
    }
    await skopeoCopy(`oci:${index.dir}:multi`, `docker://${plain.host}/team/api:multi`);
    await plain.stop();

    const w = await startTestWharf({ registry: { storage } });
    try {
      await waitFor(async () => Object.keys(await wharfView(w.url)).length === 3, 20_000, 'adoption');
      await w.wharf.deps.reconciler.idle();
      expect(await wharfView(w.url)).toEqual({
        'a/b/c': { latest: imageA.manifestDigest },
        myapp: { '1': imageA.manifestDigest },
        'team/api': { v2: imageA.manifestDigest, multi: index.indexDigest },
      });
      const projects = (await w.api('GET', '/api/v1/projects', { auth: admin })).body.items.map((p: { name: string }) => p.name);
      expect(projects).toEqual(['a', 'library', 'team']);
      const myapp = (await w.api('GET', '/api/v1/repositories?q=myapp', { auth: admin })).body.items[0];
      expect(myapp).toMatchObject({ name: 'myapp', project: 'library', tagCount: 1 });

      const anon = await skopeoInspect(`docker://${w.registry}/team/api:v2`);
      expect(anon.code).not.toBe(0);
      const asAdmin = await skopeoInspect(`docker://${w.registry}/team/api:v2`, admin);
      expect(asAdmin.code, asAdmin.stderr).toBe(0);
    } finally {
      await w.stop();
    }
  });
});
