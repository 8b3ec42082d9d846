import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, manifests, tags } from '../support/tables';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { registryView } from '../support/registry-view';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Digests and times the registry or the database cannot represent get 400, and change nothing. */

let work: string;
let image: BuiltImage;
let w: TestWharf;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-odd-'));
  [image, w] = await Promise.all([buildImage(path.join(work, 'a'), { tag: 'v1' }), startTestWharf({ reconcileIntervalSeconds: 0 })]);
  const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/team/app:1`, { destCreds: admin });
  expect(r.code, r.stderr).toBe(0);
  await waitFor(async () => (await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin })).body.total === 1);
  await w.wharf.deps.details.idle();
});
afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

const snapshot = async () => ({
  // Pull counts move with registryView's own reads; the state under test is tags and manifests.
  tags: (await w.wharf.deps.db.select().from(tags)).map(({ pullCount: _p, lastPulledAt: _l, ...t }) => t),
  manifests: await w.wharf.deps.db.select().from(manifests),
  deletes: (await w.wharf.deps.db.select().from(audit)).filter((r) => r.action.includes('delete')).length,
});

describe('digests of algorithms the registry rejects', () => {
  it.each([
    ['md5', () => `md5:${'a'.repeat(32)}`],
    ['sha1', () => `sha1:${'a'.repeat(40)}`],
    ['sha256 too short', () => `sha256:${'a'.repeat(63)}`],
    ['sha256 upper case', () => image.manifestDigest.toUpperCase().replace('SHA256', 'sha256')],
    ['sha512 of the wrong length', () => `sha512:${'a'.repeat(64)}`],
    ['sha256 with a suffix', () => `${image.manifestDigest}x`],
  ])('DELETE …/manifests/%s is 400 and deletes nothing', async (_name, digest) => {
    const before = await snapshot();
    const res = await w.api('DELETE', `/api/v1/repositories/team%2Fapp/manifests/${encodeURIComponent(digest())}`, { auth: admin });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(await snapshot()).toEqual(before);
    expect((await registryView(w.url, w.registry))['team/app']).toEqual({ '1': image.manifestDigest });
  });

  it('a well-formed sha512 digest nobody pushed is 404, not a registry error', async () => {
    const res = await w.api('DELETE', `/api/v1/repositories/team%2Fapp/manifests/sha512:${'b'.repeat(128)}`, { auth: admin });
    expect(res.status).toBe(404);
  });
});

describe('audit times outside what the log can compare', () => {
  it.each(['10000-01-01T00:00:00Z', '+010000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '9999-12-31T23:00:00-05:00', '275760-09-13T00:00:00Z', '2024-13-45', '1', 'Tue, 01 Jan 2030 00:00:00 GMT'])(
    'since=%s and until= the same are 400',
    async (t) => {
      for (const key of ['since', 'until']) {
        const res = await w.api('GET', `/api/v1/audit?${key}=${encodeURIComponent(t)}`, { auth: admin });
        expect(res.status, `${key}=${t}`).toBe(400);
        expect(res.body.error.code).toBe('invalid_request');
      }
    },
  );

  it('times within years 0000 to 9999 still filter', async () => {
    const all = (await w.api('GET', '/api/v1/audit', { auth: admin })).body.total;
    expect(all).toBeGreaterThan(0);
    expect((await w.api('GET', '/api/v1/audit?since=9999-12-31T23:59:59Z', { auth: admin })).body.total).toBe(0);
    expect((await w.api('GET', '/api/v1/audit?until=0001-01-01', { auth: admin })).body.total).toBe(0);
    expect((await w.api('GET', '/api/v1/audit?since=2000-01-01&until=9999-12-31T00:00:00%2B01:00', { auth: admin })).body.total).toBe(all);
  });
});
