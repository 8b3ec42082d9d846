import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildArtifact, buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import { IMMUTABLE_RESTORE_JOB, restoreHandler, restoreRetryPolicy } from '../../src/storage/immutability-restore';

/**
 * Immutable tags against deletes that reach them sideways: an image tagged like another's signature
 * but also carrying its own tags, and the original image while a moved tag waits to be put back.
 */

const RULES = [
  { repositories: '**', tags: 'release-*' },
  { repositories: 'signed', tags: '*.sig' },
];
let w: TestWharf;
let work: string;
let p: BuiltImage;
let x: BuiltImage;
let y: BuiltImage;

const api = (...args: Parameters<TestWharf['api']>) => w.api(...args);
const hexOf = (digest: string) => digest.slice('sha256:'.length);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-holes-'));
  [w, p, x, y] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'p'), { tag: 'v1', layers: 1 }),
    buildImage(path.join(work, 'x'), { tag: 'v1', layers: 1 }),
    buildImage(path.join(work, 'y'), { tag: 'v1', layers: 1 }),
  ]);
  expect((await api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  expect((await api('PUT', '/api/v1/projects/team/immutability', { auth: admin, body: { rules: RULES } })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
}, 60_000);

async function push(src: string, ref: string) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: admin, extraArgs: ['--preserve-digests'] });
  expect(r.code, r.stderr).toBe(0);
}

/** The digest the registry answers for a reference, or null. */
async function digestAt(ref: string): Promise<string | null> {
  const r = await skopeoInspect(`docker://${w.registry}/${ref}`, admin, { raw: true });
  return r.code === 0 ? `sha256:${(await import('node:crypto')).createHash('sha256').update(r.stdout).digest('hex')}` : null;
}

/** Every tag (accessory tags too) of a repository in Wharf's tag state, name → digest. */
async function stateTags(repository: string): Promise<Record<string, string>> {
  const r = await api('GET', `/api/v1/repositories/${encodeURIComponent(repository)}/tags?accessories=true`, { auth: admin });
  return Object.fromEntries(((r.body?.items ?? []) as { name: string; digest: string }[]).map((t) => [t.name, t.digest]));
}

async function waitState(repository: string, expected: Record<string, string>) {
  const sorted = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort(([k], [l]) => k.localeCompare(l)));
  await waitFor(async () => sorted(await stateTags(repository)) === sorted(expected), 20_000, `${repository} tags ${JSON.stringify(expected)}`);
}

describe('an image tagged as another image’s signature', () => {
  it('stays, with its immutable tag, when that other image is deleted by its last tag or by digest', async () => {
    const sigOfX = `sha256-${hexOf(x.manifestDigest)}.sig`;
    const sigOfY = `sha256-${hexOf(y.manifestDigest)}.sig`;
    await push(`oci:${p.dir}:v1`, 'team/app:release-1');
    await push(`oci:${x.dir}:v1`, 'team/app:junk');
    await push(`oci:${y.dir}:v1`, 'team/app:junk2');
    await push(`oci:${p.dir}:v1`, `team/app:${sigOfX}`);
    await push(`oci:${p.dir}:v1`, `team/app:${sigOfY}`);
    await waitState('team/app', { junk: x.manifestDigest, junk2: y.manifestDigest, 'release-1': p.manifestDigest, [sigOfX]: p.manifestDigest, [sigOfY]: p.manifestDigest });

    expect((await api('DELETE', '/api/v1/repositories/team%2Fapp/tags/release-1', { auth: admin })).status).toBe(409);
    const byTag = await api('DELETE', '/api/v1/repositories/team%2Fapp/tags/junk', { auth: admin });
    expect(byTag.status, JSON.stringify(byTag.body)).toBe(204);
    expect(await digestAt('team/app:release-1')).toBe(p.manifestDigest);
    expect(await digestAt(`team/app:${sigOfX}`)).toBe(p.manifestDigest);
    expect(await digestAt(`team/app@${x.manifestDigest}`)).toBeNull();

    const byDigest = await api('DELETE', `/api/v1/repositories/team%2Fapp/manifests/${y.manifestDigest}`, { auth: admin });
    expect(byDigest.status, JSON.stringify(byDigest.body)).toBe(204);
    expect(await digestAt('team/app:release-1')).toBe(p.manifestDigest);
    expect(await digestAt(`team/app@${y.manifestDigest}`)).toBeNull();
    expect(await stateTags('team/app')).toEqual({ 'release-1': p.manifestDigest, [sigOfX]: p.manifestDigest, [sigOfY]: p.manifestDigest });
  });

  it('a signature with two accessory tags, one of them immutable, keeps its image from being deleted (409, nothing changed)', async () => {
    const z = await buildImage(path.join(work, 'z'), { tag: 'v1', layers: 1 });
    const sig = await buildArtifact(path.join(work, 'z-sig'), { tag: 'sig', layerMediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', layer: Buffer.from('{"z":1}') });
    const att = `sha256-${hexOf(z.manifestDigest)}.att`;
    const signed = `sha256-${hexOf(z.manifestDigest)}.sig`;
    await push(`oci:${z.dir}:v1`, 'team/signed:z');
    await push(`oci:${sig.dir}:sig`, `team/signed:${att}`);
    await push(`oci:${sig.dir}:sig`, `team/signed:${signed}`);
    const all = { [att]: sig.manifestDigest, [signed]: sig.manifestDigest, z: z.manifestDigest };
    await waitState('team/signed', all);
    for (const [method, where] of [['DELETE', 'tags/z'], ['DELETE', `manifests/${z.manifestDigest}`]] as const) {
      const r = await api(method, `/api/v1/repositories/team%2Fsigned/${where}`, { auth: admin });
      expect(r.status, where).toBe(409);
      expect(r.body.error.code).toBe('tag_immutable');
      expect(await stateTags('team/signed')).toEqual(all);
      expect(await digestAt(`team/signed:${signed}`)).toBe(sig.manifestDigest);
      expect(await digestAt('team/signed:z')).toBe(z.manifestDigest);
    }
  });
});

describe('an immutable tag moved by a push', () => {
  it('keeps its image in the tag state until it is put back: the image cannot be deleted meanwhile', async () => {
    const a = await buildImage(path.join(work, 'a'), { tag: 'v1', layers: 1 });
    const b = await buildImage(path.join(work, 'b'), { tag: 'v1', layers: 1 });
    await push(`oci:${a.dir}:v1`, 'team/held:release-1');
    await waitState('team/held', { 'release-1': a.manifestDigest });
    // The restore waits for the test to let it go.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = restoreHandler(w.wharf.deps);
    w.wharf.deps.jobs.register(IMMUTABLE_RESTORE_JOB, async (task) => (await gate, real(task)), restoreRetryPolicy);
    try {
      await push(`oci:${b.dir}:v1`, 'team/held:release-1');
      await waitFor(async () => {
        const r = await api('GET', '/api/v1/audit?action=immutable_violation', { auth: admin });
        return (r.body.items as { repository: string }[]).some((v) => v.repository === 'team/held');
      }, 20_000, 'the violation audited');
      expect(await digestAt('team/held:release-1')).toBe(b.manifestDigest);
      expect(await stateTags('team/held')).toEqual({ 'release-1': a.manifestDigest });
      const del = await api('DELETE', `/api/v1/repositories/team%2Fheld/manifests/${a.manifestDigest}`, { auth: admin });
      expect(del.status, JSON.stringify(del.body)).toBe(409);
      expect(del.body.error.code).toBe('tag_immutable');
      expect(await digestAt(`team/held@${a.manifestDigest}`)).toBe(a.manifestDigest);
    } finally {
      release();
    }
    await waitFor(async () => (await digestAt('team/held:release-1')) === a.manifestDigest, 20_000, 'release-1 back on A');
    await new Promise((r) => setTimeout(r, 500));
    expect(await stateTags('team/held')).toEqual({ 'release-1': a.manifestDigest });
    const r = await api('GET', '/api/v1/audit?action=immutable_violation', { auth: admin });
    expect((r.body.items as { repository: string }[]).filter((v) => v.repository === 'team/held')).toHaveLength(1);
  });
});

describe('an immutable tag moved at the registry without a notification', () => {
  it('is kept on its image by reconcile, put back at the registry, and audited with an unknown pusher', async () => {
    const { writeFile } = await import('node:fs/promises');
    await push(`oci:${p.dir}:v1`, 'team/lost:release-7');
    await push(`oci:${x.dir}:v1`, 'team/lost:other');
    await waitState('team/lost', { 'release-7': p.manifestDigest, other: x.manifestDigest });
    // What a push whose event was lost leaves behind: the registry's tag link on another image.
    const link = path.join(w.wharf.deps.config.registry.storage, 'docker/registry/v2/repositories/team/lost/_manifests/tags/release-7/current/link');
    await writeFile(link, x.manifestDigest);
    expect(await digestAt('team/lost:release-7')).toBe(x.manifestDigest);
    expect((await api('POST', '/api/v1/system/reconcile', { auth: admin })).status).toBe(202);
    await waitFor(async () => (await digestAt('team/lost:release-7')) === p.manifestDigest, 30_000, 'the tag put back at the registry');
    expect((await stateTags('team/lost'))['release-7']).toBe(p.manifestDigest);
    const audit = await api('GET', '/api/v1/audit?action=immutable_violation&repository=team%2Flost', { auth: admin });
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ username: '(unknown)', tag: 'release-7', digest: x.manifestDigest });
  });
});
