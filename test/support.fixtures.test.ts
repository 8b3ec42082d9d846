import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTags, skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags } from './support/clients.js';
import { ctrPull, startContainerd, type ContainerdHandle } from './support/containerd.js';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from './support/oci.js';
import { startPlainRegistry, type PlainRegistry } from './support/plain-registry.js';

const sha256 = (s: string): string => `sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}`;

describe('test support fixtures', () => {
  let reg: PlainRegistry | undefined;
  let ctrd: ContainerdHandle | undefined;
  let work = '';
  let image: BuiltImage;
  let index: BuiltIndex;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-fixtures-'));
    [reg, image, index] = await Promise.all([
      startPlainRegistry(),
      buildImage(join(work, 'img'), { tag: 'v1' }),
      buildIndex(join(work, 'idx'), { tag: 'multi' }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([ctrd?.stop(), reg?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  }, 30_000);

  it('pushes a single image and an index with skopeo', async () => {
    const r = reg!;
    const single = await skopeoCopy(`oci:${image.dir}:${image.tag}`, `docker://${r.host}/team/app:1`);
    expect(single.code, single.stderr).toBe(0);
    const multi = await skopeoCopy(`oci:${index.dir}:${index.tag}`, `docker://${r.host}/team/app:multi`);
    expect(multi.code, multi.stderr).toBe(0);

    const raw1 = await skopeoInspect(`docker://${r.host}/team/app:1`, undefined, { raw: true });
    expect(raw1.code, raw1.stderr).toBe(0);
    expect(sha256(raw1.stdout)).toBe(image.manifestDigest);

    const rawMulti = await skopeoInspect(`docker://${r.host}/team/app:multi`, undefined, { raw: true });
    expect(rawMulti.code, rawMulti.stderr).toBe(0);
    expect(sha256(rawMulti.stdout)).toBe(index.indexDigest);
    const parsed = JSON.parse(rawMulti.stdout) as { manifests: Array<{ digest: string }> };
    expect(parsed.manifests.map((m) => m.digest)).toEqual(index.childDigests);

    const tags = await skopeoListTags(`docker://${r.host}/team/app`);
    expect(tags.code, tags.stderr).toBe(0);
    expect(parseTags(tags.stdout).sort()).toEqual(['1', 'multi']);
  }, 60_000);

  it('returns a non-zero code (not a throw) for a missing tag, and deletes', async () => {
    const r = reg!;
    const missing = await skopeoInspect(`docker://${r.host}/team/app:nope`, undefined, { raw: true });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/manifest unknown|not found/i);

    const copy = await skopeoCopy(`oci:${image.dir}:${image.tag}`, `docker://${r.host}/team/tmp:gone`);
    expect(copy.code, copy.stderr).toBe(0);
    const del = await skopeoDelete(`docker://${r.host}/team/tmp:gone`);
    expect(del.code, del.stderr).toBe(0);
    const after = await skopeoInspect(`docker://${r.host}/team/tmp:gone`);
    expect(after.code).not.toBe(0);
  }, 60_000);

  it('pulls both refs with ctr from a private containerd', async () => {
    const r = reg!;
    ctrd = await startContainerd();
    const p1 = await ctrPull(ctrd.address, `${r.host}/team/app:1`);
    expect(p1.code, p1.stderr + p1.stdout).toBe(0);
    const p2 = await ctrPull(ctrd.address, `${r.host}/team/app:multi`);
    expect(p2.code, p2.stderr + p2.stdout).toBe(0);
  }, 90_000);
});
