import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { manifests, repositories, tags } from '../support/tables';
import { parseTags, skopeoCopy, skopeoInspect, skopeoListTags } from '../support/clients';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Retention against the real registry: a dry run lists exactly what the real run then deletes,
 * tag by tag (a sibling on a deleted tag's digest still pulls), accessories stay with their image
 * and go with it, and the registry's tag list agrees with Wharf's afterwards.
 */

let w: TestWharf;
let work: string;
let images: BuiltImage[];
let index: BuiltIndex;
const REPO = 'keep/app';
const POLICY = '/api/v1/projects/keep/retention';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-retention-'));
  index = await buildIndex(path.join(work, 'index'), { tag: 'v', layers: 1, layerSize: 512 });
  [w, ...images] = await Promise.all([
    startTestWharf(),
    ...['a', 'b', 'c', 'd', 'sig-a', 'sig-b'].map((n) => buildImage(path.join(work, n), { tag: 'v', layers: 1, layerSize: 512 })),
  ]);
  for (const name of ['keep', 'prune']) expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name } })).status).toBe(201);
});

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function push(image: { dir: string }, tag: string, repo = REPO) {
  const r = await skopeoCopy(`oci:${image.dir}:v`, `docker://${w.registry}/${repo}:${tag}`, { destCreds: admin });
  expect(r.code, r.stderr).toBe(0);
}

async function wharfTags(): Promise<string[]> {
  const repo = await firstRow(w.wharf.deps.db.select().from(repositories).where(eq(repositories.name, REPO)));
  if (!repo) return [];
  return (await w.wharf.deps.db.select().from(tags).where(eq(tags.repositoryId, repo.id))).map((t) => t.name).sort();
}

async function registryTags(): Promise<string[]> {
  const r = await skopeoListTags(`docker://${w.registry}/${REPO}`, admin);
  expect(r.code, r.stderr).toBe(0);
  return parseTags(r.stdout).sort();
}

async function run(dryRun: boolean, policy = POLICY) {
  const started = await w.api('POST', `${policy}/executions`, { auth: admin, body: { dryRun } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return waitFor(
    async () => {
      const r = await w.api('GET', `${policy}/executions/${started.body.id}`, { auth: admin });
      return r.body.finishedAt ? r.body : null;
    },
    60_000,
    'retention run finished',
  );
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const sorted = (items: { repository: string; tag: string; digest: string }[]) => [...items].sort((x, y) => x.tag.localeCompare(y.tag));

describe('retention against the registry', () => {
  it('dry run == real run; deleted tags leave the registry and Wharf; the sibling and the kept image’s signature stay', async () => {
    const [a, b, c, d, sigA, sigB] = images as [BuiltImage, BuiltImage, BuiltImage, BuiltImage, BuiltImage, BuiltImage];
    // Pushed in this order, so t1 is the oldest; "stable" shares t1's digest.
    await push(a, 't1');
    await push(b, 't2');
    await push(c, 't3');
    await push(d, 't4');
    await push(a, 'stable');
    const sigOfA = `sha256-${hexOf(a.manifestDigest)}.sig`;
    const sigOfB = `sha256-${hexOf(b.manifestDigest)}.sig`;
    await push(sigA, sigOfA);
    await push(sigB, sigOfB);
    const all = ['stable', 't1', 't2', 't3', 't4', sigOfA, sigOfB].sort();
    await waitFor(async () => JSON.stringify(await wharfTags()) === JSON.stringify(all), 20_000, 'tags known to Wharf');

    // Bad input first: refused, nothing stored.
    const bad = await w.api('PUT', POLICY, { auth: admin, body: { rules: [{ repositories: '**', tags: 't*', keep: 'latestPushed' }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/rules\[0\]\.n/);
    expect((await w.api('GET', POLICY, { auth: admin })).body.rules).toEqual([]);

    const put = await w.api('PUT', POLICY, {
      auth: admin,
      body: {
        rules: [
          { repositories: '**', tags: 't*', keep: 'latestPushed', n: 2 },
          { repositories: '**', tags: 'stable', keep: 'always' },
        ],
      },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const dry = await run(true);
    expect(dry.status).toBe('succeeded');
    const expected = [
      { repository: REPO, tag: 't1', digest: a.manifestDigest },
      { repository: REPO, tag: 't2', digest: b.manifestDigest },
      { repository: REPO, tag: sigOfB, digest: sigB.manifestDigest },
    ];
    expect(sorted(dry.deleted)).toEqual(sorted(expected));
    expect(dry.kept).toBe(4);
    // b's manifest, config and layer are held by nothing else; a's stay with "stable".
    expect(dry.bytesReclaimable).toBeGreaterThan(0);
    expect(await registryTags()).toEqual(all);

    const real = await run(false);
    expect(real.status, JSON.stringify(real.body)).toBe('succeeded');
    expect(sorted(real.deleted)).toEqual(sorted(dry.deleted));
    expect(real.bytesReclaimable).toBe(dry.bytesReclaimable);

    const left = ['stable', 't3', 't4', sigOfA].sort();
    expect(await registryTags()).toEqual(left);
    expect(await wharfTags()).toEqual(left);
    const stable = await skopeoInspect(`docker://${w.registry}/${REPO}:stable`, admin, { raw: true });
    expect(stable.code, stable.stderr).toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/${REPO}:${sigOfA}`, admin, { raw: true })).code).toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/${REPO}@${b.manifestDigest}`, admin, { raw: true })).code).not.toBe(0);

    const list = await w.api('GET', `${POLICY}/executions`, { auth: admin });
    expect(list.body.items.map((e: { dryRun: boolean; deletedCount: number }) => [e.dryRun, e.deletedCount])).toEqual([
      [false, 3],
      [true, 3],
    ]);
    // A run with nothing left to delete deletes nothing.
    expect((await run(false)).deleted).toEqual([]);
  });

  it('untagged: delete removes an image whose tag moved away, and spares the platform images of a tagged index', async () => {
    const [a, , c] = images as [BuiltImage, BuiltImage, BuiltImage];
    const repo = 'prune/app';
    await push(index, 'multi', repo);
    await push(a, 'x', repo);
    await push(c, 'x', repo);
    const known = async () => {
      const r = await firstRow(w.wharf.deps.db.select().from(repositories).where(eq(repositories.name, repo)));
      return r ? (await w.wharf.deps.db.select().from(manifests).where(eq(manifests.repositoryId, r.id))).map((m) => m.digest).sort() : [];
    };
    const all = [index.indexDigest, ...index.childDigests, a.manifestDigest, c.manifestDigest].sort();
    await waitFor(async () => JSON.stringify(await known()) === JSON.stringify(all), 20_000, 'manifests known to Wharf');
    const policy = '/api/v1/projects/prune/retention';
    expect((await w.api('PUT', policy, { auth: admin, body: { rules: [{ repositories: '**', tags: '*', keep: 'always' }], untagged: 'delete' } })).status).toBe(200);
    const dry = await run(true, policy);
    expect(dry.deleted).toEqual([]);
    expect(dry.deletedUntagged).toEqual([{ repository: repo, digest: a.manifestDigest }]);
    const real = await run(false, policy);
    expect(real.status, JSON.stringify(real)).toBe('succeeded');
    expect(real.deletedUntagged).toEqual(dry.deletedUntagged);
    expect((await skopeoInspect(`docker://${w.registry}/${repo}@${a.manifestDigest}`, admin, { raw: true })).code).not.toBe(0);
    for (const child of index.childDigests) {
      const r = await skopeoInspect(`docker://${w.registry}/${repo}@${child}`, admin, { raw: true });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await known()).toEqual([index.indexDigest, ...index.childDigests, c.manifestDigest].sort());
  });
});
