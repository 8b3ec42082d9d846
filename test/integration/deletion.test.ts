import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { manifests, repositories, tags } from '../support/tables';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { registryView } from '../support/registry-view';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Deleting one tag, an image, an index and a whole repository, checked at the real registry. */

const PASSWORD = 'delete-password-1';
let w: TestWharf;
let work: string;
let imageA: BuiltImage;
let imageB: BuiltImage;
let index: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-delete-'));
  [w, imageA, imageB, index] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'a'), { tag: 'v1' }),
    buildImage(path.join(work, 'b'), { tag: 'v1' }),
    buildIndex(path.join(work, 'idx'), { tag: 'multi' }),
  ]);
  for (const u of ['owner', 'dev', 'guest', 'stranger'])
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: u, password: PASSWORD } });
  await w.api('POST', '/api/v1/projects', { auth: `owner:${PASSWORD}`, body: { name: 'team' } });
  await w.api('PUT', '/api/v1/projects/team/members/dev', { auth: `owner:${PASSWORD}`, body: { role: 'developer' } });
  await w.api('PUT', '/api/v1/projects/team/members/guest', { auth: `owner:${PASSWORD}`, body: { role: 'guest' } });
});

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function push(src: string, ref: string) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: admin });
  expect(r.code, r.stderr).toBe(0);
}

/** Waits until Wharf's tag state (tags and manifests) has settled to what the registry says. */
async function settled(repo: string, expectTags: Record<string, string>, expectDigests: string[]) {
  let seen = '';
  await waitFor(
    async () => {
      const view = await registryView(w.url, w.registry);
      const registryTags = view[repo] ?? {};
      const r = await firstRow(w.wharf.deps.db.select().from(repositories).where(eq(repositories.name, repo)));
      const stateTags = r ? Object.fromEntries((await w.wharf.deps.db.select().from(tags).where(eq(tags.repositoryId, r.id))).map((t) => [t.name, t.digest])) : {};
      const stateDigests = r ? (await w.wharf.deps.db.select().from(manifests).where(eq(manifests.repositoryId, r.id))).map((m) => m.digest).sort() : [];
      seen = JSON.stringify({ registryTags, stateTags, stateDigests });
      const sorted = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort());
      return (
        sorted(registryTags) === sorted(expectTags) &&
        sorted(stateTags) === sorted(expectTags) &&
        JSON.stringify(stateDigests) === JSON.stringify([...expectDigests].sort())
      );
    },
    20_000,
    `${repo} settled`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${seen}`);
  });
}

const del = (p: string, auth?: string) => w.api('DELETE', `/api/v1/repositories/${p}`, auth ? { auth } : {});

describe('delete one tag', () => {
  it('removes that tag only; the other tag on the same digest still pulls; the placeholder leaves nothing behind', async () => {
    await push(`oci:${imageA.dir}:v1`, 'team/app:a');
    await push(`oci:${imageA.dir}:v1`, 'team/app:b');
    await push(`oci:${imageB.dir}:v1`, 'team/app:c');
    await settled('team/app', { a: imageA.manifestDigest, b: imageA.manifestDigest, c: imageB.manifestDigest }, [imageA.manifestDigest, imageB.manifestDigest]);

    const res = await del('team%2Fapp/tags/a', `dev:${PASSWORD}`);
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    // Wharf's state changes at once, before the registry's events arrive.
    const list = await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin });
    expect(list.body.items.map((t: { name: string }) => t.name).sort()).toEqual(['b', 'c']);

    expect((await skopeoInspect(`docker://${w.registry}/team/app:a`, admin)).code).not.toBe(0);
    const b = await skopeoInspect(`docker://${w.registry}/team/app:b`, admin, { raw: true });
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).config.digest).toBe(imageA.configDigest);
    // After the placeholder's push and delete events: exactly the two images, no extra tag or manifest.
    await settled('team/app', { b: imageA.manifestDigest, c: imageB.manifestDigest }, [imageA.manifestDigest, imageB.manifestDigest]);
    await new Promise((r) => setTimeout(r, 1000));
    await settled('team/app', { b: imageA.manifestDigest, c: imageB.manifestDigest }, [imageA.manifestDigest, imageB.manifestDigest]);

    const audit = await w.api('GET', '/api/v1/audit?action=tag_delete', { auth: admin });
    expect(audit.body.items[0]).toMatchObject({ username: 'dev', repository: 'team/app', tag: 'a', digest: imageA.manifestDigest, project: 'team' });
    // Wharf's own placeholder push is not in the audit log as a push.
    const pushes = await w.api('GET', '/api/v1/audit?action=push&repository=team%2Fapp', { auth: admin });
    expect(pushes.body.items.every((r: { username: string }) => r.username === 'admin')).toBe(true);
  });

  it('the last tag of an image deletes the image', async () => {
    const res = await del('team%2Fapp/tags/c', `owner:${PASSWORD}`);
    expect(res.status).toBe(204);
    const head = await skopeoInspect(`docker://${w.registry}/team/app@${imageB.manifestDigest}`, admin);
    expect(head.code).not.toBe(0);
    await settled('team/app', { b: imageA.manifestDigest }, [imageA.manifestDigest]);
  });

  it('an unknown tag is 404 and changes nothing', async () => {
    expect((await del('team%2Fapp/tags/nope', admin)).status).toBe(404);
    expect((await registryView(w.url, w.registry))['team/app']).toEqual({ b: imageA.manifestDigest });
  });
});

describe('delete an image and an index', () => {
  it('a child of a tagged index is refused with 409 unless forced; the index goes with its tags', async () => {
    await push(`oci:${index.dir}:multi`, 'team/multi:1');
    await push(`oci:${index.dir}:multi`, 'team/multi:2');
    await settled('team/multi', { '1': index.indexDigest, '2': index.indexDigest }, [index.indexDigest, ...index.childDigests]);
    await w.wharf.deps.details.idle();
    await waitFor(async () => (await w.wharf.deps.db.select().from(manifests)).some((m) => m.digest === index.indexDigest && m.children !== null));

    const child = index.childDigests[1]!;
    const refused = await del(`team%2Fmulti/manifests/${child}`, `dev:${PASSWORD}`);
    expect(refused.status).toBe(409);
    expect((await skopeoInspect(`docker://${w.registry}/team/multi@${child}`, admin)).code).toBe(0);

    const forced = await del(`team%2Fmulti/manifests/${child}?force=true`, `dev:${PASSWORD}`);
    expect(forced.status).toBe(204);
    expect((await skopeoInspect(`docker://${w.registry}/team/multi@${child}`, admin)).code).not.toBe(0);

    const gone = await del(`team%2Fmulti/manifests/${index.indexDigest}`, `dev:${PASSWORD}`);
    expect(gone.status).toBe(204);
    expect((await skopeoInspect(`docker://${w.registry}/team/multi:1`, admin)).code).not.toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/team/multi:2`, admin)).code).not.toBe(0);
    const audit = await w.api('GET', '/api/v1/audit?action=image_delete&repository=team%2Fmulti', { auth: admin });
    expect(audit.body.items[0]).toMatchObject({ username: 'dev', digest: index.indexDigest });
  });
});

describe('delete a repository', () => {
  it('removes every image; the repository disappears from Wharf and from the registry', async () => {
    await push(`oci:${imageA.dir}:v1`, 'team/whole:1');
    await push(`oci:${imageB.dir}:v1`, 'team/whole:2');
    await push(`oci:${index.dir}:multi`, 'team/whole:3');
    await settled('team/whole', { '1': imageA.manifestDigest, '2': imageB.manifestDigest, '3': index.indexDigest }, [
      imageA.manifestDigest,
      imageB.manifestDigest,
      index.indexDigest,
      ...index.childDigests,
    ]);
    const res = await del('team%2Fwhole', `owner:${PASSWORD}`);
    expect(res.status).toBe(204);
    expect((await registryView(w.url, w.registry))['team/whole']).toBeUndefined();
    expect((await w.api('GET', '/api/v1/repositories?q=whole', { auth: admin })).body.total).toBe(0);
    for (const d of [imageA.manifestDigest, imageB.manifestDigest, index.indexDigest])
      expect((await skopeoInspect(`docker://${w.registry}/team/whole@${d}`, admin)).code).not.toBe(0);
  });
});

describe('who may delete', () => {
  beforeAll(async () => {
    await push(`oci:${imageA.dir}:v1`, 'team/guarded:1');
    await push(`oci:${imageA.dir}:v1`, 'team/guarded:2');
    await settled('team/guarded', { '1': imageA.manifestDigest, '2': imageA.manifestDigest }, [imageA.manifestDigest]);
  });

  const unchanged = async () =>
    expect((await registryView(w.url, w.registry))['team/guarded']).toEqual({ '1': imageA.manifestDigest, '2': imageA.manifestDigest });

  it('a guest gets 403, a stranger 404, anonymous 401, and nothing changes', async () => {
    for (const [auth, status] of [
      [`guest:${PASSWORD}`, 403],
      [`stranger:${PASSWORD}`, 404],
      [undefined, 401],
    ] as const) {
      expect((await del('team%2Fguarded/tags/1', auth)).status).toBe(status);
      expect((await del(`team%2Fguarded/manifests/${imageA.manifestDigest}`, auth)).status).toBe(status);
      expect((await del('team%2Fguarded', auth)).status).toBe(status);
    }
    await unchanged();
  });

  it('a robot without delete gets 403; one with delete may', async () => {
    const pullPush = await w.api('POST', '/api/v1/projects/team/robots', { auth: `owner:${PASSWORD}`, body: { name: 'builder', permissions: ['pull', 'push'] } });
    expect(pullPush.status).toBe(201);
    expect((await del('team%2Fguarded/tags/1', `${pullPush.body.name}:${pullPush.body.secret}`)).status).toBe(403);
    await unchanged();
    const cleaner = await w.api('POST', '/api/v1/projects/team/robots', { auth: `owner:${PASSWORD}`, body: { name: 'cleaner', permissions: ['delete'] } });
    expect((await del('team%2Fguarded/tags/2', `${cleaner.body.name}:${cleaner.body.secret}`)).status).toBe(204);
    expect((await registryView(w.url, w.registry))['team/guarded']).toEqual({ '1': imageA.manifestDigest });
  });

  it('bad input: 400 and nothing changes', async () => {
    for (const p of [
      'team%2Fguarded/tags/bad%20tag',
      'team%2Fguarded/tags/..',
      `team%2Fguarded/tags/${'x'.repeat(200)}`,
      'team%2Fguarded/manifests/sha256:short',
      'team%2Fguarded/manifests/md5:abc',
      'Team%2FGuarded/tags/1',
      'team%2F..%2Fguarded/tags/1',
      `${'a'.repeat(300)}/tags/1`,
      'team%2F%2Fguarded',
    ]) {
      const res = await del(p, admin);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.status, p).toBeLessThan(500);
      expect(res.body.error.code, p).toBeTruthy();
    }
    expect((await registryView(w.url, w.registry))['team/guarded']).toEqual({ '1': imageA.manifestDigest });
  });
});
