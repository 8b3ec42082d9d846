import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyImage, deleteImageTag, type CopyRequest } from '../../src/replication/copy';
import { RemoteRegistry, TransferError, type RegistryEndpoint } from '../../src/replication/remote';
import { INTERNAL_SUBJECT } from '../../src/identity/principal';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { startCountingProxy, type CountingProxy } from '../support/counting-proxy';
import { run } from '../support/exec';
import { buildImage, buildIndex, buildLargeImage, type BuiltImage, type BuiltIndex } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import type { CopyProcessReport } from '../support/copy-process';

/** The copier between real registries: plain, htpasswd Basic, Wharf's token auth; resume, verify, delete. */

const BASIC = { username: 'mirror', password: 'mirror-password-1' };
const WHARF_USER = 'replicator';
const WHARF_PASSWORD = 'replicator-password-1';

let work: string;
let plainA: PlainRegistry;
let plainB: PlainRegistry;
let basicTarget: PlainRegistry;
let noDelete: PlainRegistry;
let w: TestWharf;
let image: BuiltImage;
let other: BuiltImage;
let index: BuiltIndex;
const opened: RemoteRegistry[] = [];

function remote(endpoint: RegistryEndpoint | string): RemoteRegistry {
  const r = new RemoteRegistry(typeof endpoint === 'string' ? { url: endpoint, insecure: true } : endpoint);
  opened.push(r);
  return r;
}

async function push(layout: string, ref: string, creds?: string) {
  const r = await skopeoCopy(layout, `docker://${ref}`, { destCreds: creds });
  expect(r.code, r.stderr).toBe(0);
}

async function rawManifest(ref: string, creds?: string): Promise<string> {
  const r = await skopeoInspect(`docker://${ref}`, creds, { raw: true });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const copyOf = (source: RemoteRegistry, target: RemoteRegistry, over: Partial<CopyRequest> = {}): CopyRequest => ({
  source,
  sourceRepository: 'team/app',
  reference: 'v1',
  target,
  targetRepository: 'mirror/app',
  tag: 'v1',
  override: true,
  ...over,
});

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-transfer-'));
  [plainA, plainB, basicTarget, noDelete, w, image, other, index] = await Promise.all([
    startPlainRegistry(),
    startPlainRegistry(),
    startPlainRegistry({ htpasswd: BASIC }),
    startPlainRegistry({ deleteEnabled: false }),
    startTestWharf(),
    buildImage(path.join(work, 'image'), { tag: 'v1', layers: 3 }),
    buildImage(path.join(work, 'other'), { tag: 'v1' }),
    buildIndex(path.join(work, 'index'), { tag: 'multi' }),
  ]);
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: WHARF_USER, password: WHARF_PASSWORD } });
  const created = await w.api('POST', '/api/v1/projects', { auth: `${WHARF_USER}:${WHARF_PASSWORD}`, body: { name: 'team' } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await push(`oci:${image.dir}:v1`, `${plainA.host}/team/app:v1`);
  await push(`oci:${other.dir}:v1`, `${plainA.host}/team/app:other`);
  await push(`oci:${index.dir}:multi`, `${plainA.host}/team/app:multi`);
}, 120_000);

afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
  await Promise.all([plainA?.stop(), plainB?.stop(), basicTarget?.stop(), noDelete?.stop(), w?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('plain registry to plain registry, no auth', () => {
  it('copies an image: every blob uploaded, the tag last, the manifest byte for byte', async () => {
    const result = await copyImage(copyOf(remote(plainA.url), remote(plainB.url)));
    expect(result).toMatchObject({ outcome: 'copied', digest: image.manifestDigest, blobsUploaded: 4, blobsMounted: 0, blobsSkipped: 0 });
    expect(result.bytes).toBeGreaterThan(0);
    expect(await rawManifest(`${plainB.host}/mirror/app:v1`)).toBe(await rawManifest(`${plainA.host}/team/app:v1`));
  });

  it('an OCI index with two platforms arrives whole: index and child digests equal, each child by digest', async () => {
    const result = await copyImage(copyOf(remote(plainA.url), remote(plainB.url), { reference: 'multi', tag: 'multi' }));
    expect(result).toMatchObject({ outcome: 'copied', digest: index.indexDigest, blobsUploaded: 6 });
    const target = remote(plainB.url);
    expect((await target.headManifest('mirror/app', 'multi'))?.digest).toBe(index.indexDigest);
    for (const child of index.childDigests) expect((await target.headManifest('mirror/app', child))?.digest).toBe(child);
    expect(await rawManifest(`${plainB.host}/mirror/app:multi`)).toBe(await rawManifest(`${plainA.host}/team/app:multi`));
  });

  it('override off leaves a tag on another digest alone (override_off); override on moves it', async () => {
    const source = remote(plainA.url);
    const target = remote(plainB.url);
    const off = await copyImage(copyOf(source, target, { reference: 'other', override: false }));
    expect(off).toMatchObject({ outcome: 'override_off', digest: other.manifestDigest, blobsUploaded: 0, bytes: 0 });
    expect((await target.headManifest('mirror/app', 'v1'))?.digest).toBe(image.manifestDigest);
    const on = await copyImage(copyOf(source, target, { reference: 'other', tag: 'moved', override: true }));
    expect(on.outcome).toBe('copied');
  });

  it('by digest as the reference, and a digest that is not there is a 404 that is not retried', async () => {
    const result = await copyImage(copyOf(remote(plainA.url), remote(plainB.url), { reference: image.manifestDigest, tag: 'pinned' }));
    expect(result).toMatchObject({ outcome: 'copied', blobsUploaded: 0, blobsSkipped: 4 });
    const missing = await copyImage(copyOf(remote(plainA.url), remote(plainB.url), { reference: `sha256:${'0'.repeat(64)}` })).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TransferError);
    expect(missing).toMatchObject({ retryable: false, status: 404 });
  });
});

describe('what travels, counted at the target', () => {
  let proxy: CountingProxy;
  beforeAll(async () => {
    proxy = await startCountingProxy(plainB.host);
  });
  afterAll(async () => proxy?.close());

  it('the same digest already there: exists, and no upload starts', async () => {
    proxy.reset();
    const result = await copyImage(copyOf(remote(plainA.url), remote(proxy.url)));
    expect(result).toMatchObject({ outcome: 'exists', digest: image.manifestDigest, bytes: 0, blobsUploaded: 0 });
    expect(proxy.counts()).toMatchObject({ started: 0, patches: 0, finished: [] });
  });

  it('blobs already at the target are skipped: one platform copied first, then the index sends only the other', async () => {
    proxy.reset();
    const first = await copyImage(copyOf(remote(plainA.url), remote(proxy.url), { reference: index.childDigests[0]!, targetRepository: 'mirror/split', tag: 'amd64' }));
    expect(first).toMatchObject({ outcome: 'copied', blobsUploaded: 3 });
    proxy.reset();
    const whole = await copyImage(copyOf(remote(plainA.url), remote(proxy.url), { reference: 'multi', targetRepository: 'mirror/split', tag: 'multi' }));
    expect(whole).toMatchObject({ outcome: 'copied', blobsUploaded: 3, blobsSkipped: 3 });
    expect(proxy.counts().finished).toHaveLength(3);
  });

  it('on the same registry a blob is mounted from the source repository, not sent', async () => {
    const b = remote(plainB.url);
    const result = await copyImage(copyOf(b, b, { sourceRepository: 'mirror/app', targetRepository: 'mounted/app' }));
    expect(result).toMatchObject({ outcome: 'copied', blobsMounted: 4, blobsUploaded: 0, blobsSkipped: 0 });
  });
});

describe('bandwidth and stop', () => {
  let slow: BuiltImage;
  beforeAll(async () => {
    slow = await buildImage(path.join(work, 'slow'), { tag: 'v1', layers: 2, layerSize: 1024 * 1024 });
    await push(`oci:${slow.dir}:v1`, `${plainA.host}/team/slow:v1`);
  });

  it('a bandwidth limit holds the copy to its rate', async () => {
    const started = performance.now();
    const result = await copyImage(copyOf(remote(plainA.url), remote(plainB.url), { sourceRepository: 'team/slow', targetRepository: 'slow/limited', bandwidthKBps: 1024 }));
    const seconds = (performance.now() - started) / 1000;
    expect(result.outcome).toBe('copied');
    // About 2 MiB at 1 MiB/s, less the quarter second a burst may run ahead.
    expect(seconds).toBeGreaterThan(1.5);
  });

  it('an aborted signal stops the copy at once, and nothing is tagged', async () => {
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(), 300);
    const failed = await copyImage(
      copyOf(remote(plainA.url), remote(plainB.url), { sourceRepository: 'team/slow', targetRepository: 'slow/stopped', bandwidthKBps: 256, signal: controller.signal }),
    ).catch((e: unknown) => e);
    expect((failed as Error).name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(1500);
    expect(await remote(plainB.url).headManifest('slow/stopped', 'v1')).toBeNull();
  });
});

describe('htpasswd Basic auth', () => {
  it('ping says basic; the right credentials copy, the wrong ones fail ping and copy, not retryable', async () => {
    const good = remote({ url: basicTarget.url, username: BASIC.username, password: BASIC.password });
    expect(await good.ping()).toEqual({ ok: true, auth: 'basic' });
    const result = await copyImage(copyOf(remote(plainA.url), good));
    expect(result).toMatchObject({ outcome: 'copied', blobsUploaded: 4 });
    expect(await rawManifest(`${basicTarget.host}/mirror/app:v1`, `${BASIC.username}:${BASIC.password}`)).toBe(await rawManifest(`${plainA.host}/team/app:v1`));

    const bad = remote({ url: basicTarget.url, username: BASIC.username, password: 'wrong-password' });
    const ping = await bad.ping();
    expect(ping).toMatchObject({ ok: false, auth: 'basic' });
    expect(ping.error).toMatch(/refused the credentials \(401\)/);
    expect(ping.error).not.toContain('wrong-password');
    const failed = await copyImage(copyOf(remote(plainA.url), bad, { tag: 'again' })).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransferError);
    expect(failed).toMatchObject({ retryable: false, status: 401 });
    expect((failed as Error).message).not.toContain('wrong-password');
    expect(await remote(basicTarget.url).ping()).toEqual({ ok: false, auth: 'basic', error: expect.stringMatching(/asks for a user name/) as string });
    expect(await remote(plainA.url).ping()).toEqual({ ok: true, auth: 'none' });
  });
});

describe('a Wharf-managed registry (token auth)', () => {
  const wharfEndpoint = (password = WHARF_PASSWORD): RegistryEndpoint => ({ url: `http://${w.registry}`, username: WHARF_USER, password });

  it('ping says bearer; copies into it with a user of Wharf, and out of it again', async () => {
    const into = remote(wharfEndpoint());
    expect(await into.ping()).toEqual({ ok: true, auth: 'bearer' });
    const result = await copyImage(copyOf(remote(plainA.url), into, { reference: 'multi', targetRepository: 'team/app', tag: 'multi' }));
    expect(result).toMatchObject({ outcome: 'copied', digest: index.indexDigest, blobsUploaded: 6 });
    const back = await copyImage(copyOf(remote(wharfEndpoint()), remote(plainB.url), { sourceRepository: 'team/app', reference: 'multi', targetRepository: 'from-wharf/app', tag: 'multi' }));
    expect(back).toMatchObject({ outcome: 'copied', digest: index.indexDigest });
    expect(await rawManifest(`${plainB.host}/from-wharf/app:multi`)).toBe(await rawManifest(`${plainA.host}/team/app:multi`));
  });

  it("Wharf's own registry with tokens Wharf mints itself (tokenSource)", async () => {
    const { tokenSigner, config } = w.wharf.deps;
    const own = remote({
      url: `http://${w.registry}`,
      tokenSource: (access) =>
        tokenSigner.issue({ issuer: config.token.issuer, service: config.token.service, subject: INTERNAL_SUBJECT, access, expiresIn: config.token.expiresIn, nowMs: Date.now() }),
    });
    expect(await own.ping()).toEqual({ ok: true, auth: 'bearer' });
    expect(await own.catalog()).toContain('team/app');
    expect(await own.tags('team/app')).toEqual(['multi']);
    expect(await own.tags('team/nothing-here')).toEqual([]);
    const result = await copyImage(copyOf(remote(plainA.url), own, { targetRepository: 'team/own' }));
    expect(result).toMatchObject({ outcome: 'copied', blobsUploaded: 4 });
  });

  it('wrong credentials: ping ok false with the reason, copy fails not retryable; a catalog refused is not retryable', async () => {
    const bad = remote(wharfEndpoint('not-the-password'));
    const ping = await bad.ping();
    expect(ping).toMatchObject({ ok: false, auth: 'bearer' });
    expect(ping.error).toMatch(/token service .* refused the credentials \(401\)/);
    expect(ping.error).not.toContain('not-the-password');
    const failed = await copyImage(copyOf(remote(plainA.url), bad, { targetRepository: 'team/app' })).catch((e: unknown) => e);
    expect(failed).toMatchObject({ retryable: false, status: 401 });
    const catalog = await remote(wharfEndpoint()).catalog().catch((e: unknown) => e);
    expect(catalog).toBeInstanceOf(TransferError);
    expect(catalog).toMatchObject({ retryable: false, status: 401 });
  });
});

describe('ping of what is not a registry', () => {
  it('a web server that is not a registry, and a port nobody listens on', async () => {
    const notRegistry = await remote(w.url).ping();
    expect(notRegistry.ok).toBe(false);
    expect(notRegistry.error).toMatch(/not a registry/);
    const closed = await remote('http://127.0.0.1:9').ping();
    expect(closed.ok).toBe(false);
    expect(closed.error).toMatch(/cannot reach the registry/);
  });
});

describe('how failures are classed', () => {
  it('429 with Retry-After and 503 are retryable (with the delay), 403 is not; a body names the reason', async () => {
    for (const [status, headers, retryable, delay] of [
      [429, { 'retry-after': '3' }, true, 3000],
      [503, {}, true, undefined],
      [403, {}, false, undefined],
    ] as const) {
      const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{"errors":[{"code":"DENIED","message":"no"}]}'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const failed = await copyImage(copyOf(remote(plainA.url), remote(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))).catch((e: unknown) => e);
        expect(failed).toBeInstanceOf(TransferError);
        expect(failed).toMatchObject({ retryable, status, retryAfterMs: delay });
        expect((failed as Error).message).toBe(`HEAD mirror/app:v1: ${status}`);
        const fromIt = await copyImage(copyOf(remote(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), remote(plainB.url))).catch((e: unknown) => e);
        expect(fromIt).toMatchObject({ retryable, status });
        expect((fromIt as Error).message).toBe(`GET team/app:v1: ${status}: DENIED: no`);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
    const refused = await copyImage(copyOf(remote(plainA.url), remote(plainB.url), { reference: 'no-such-tag' })).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/not found at the source/);
    const tags = await remote(plainA.url).tags('team/app');
    expect(tags.sort()).toEqual(['multi', 'other', 'v1']);
  });
});

describe('a target stopped mid-copy', () => {
  it('fails retryable; after its restart the checkpoint resumes: finished blobs not sent again, the open one from its offset', async () => {
    const storageDir = path.join(work, 'resume-storage');
    const httpSecret = 'resume-http-secret';
    let target = await startPlainRegistry({ storageDir, httpSecret });
    const port = target.port;
    const built = await buildImage(path.join(work, 'resume'), { tag: 'v1', layers: 3, layerSize: 3 * 1024 * 1024 });
    await push(`oci:${built.dir}:v1`, `${plainA.host}/team/resume:v1`);
    let stopAtPatch = 7;
    const proxy = await startCountingProxy(target.host, {
      // The seventh PATCH (the second chunk of the second layer) waits until the registry is gone: the copier then meets a dead target between two chunks.
      gate: async (req, counts) => {
        if (req.method === 'PATCH' && counts.patches === stopAtPatch - 1) {
          stopAtPatch = -1;
          await target.stop();
        }
      },
    });
    try {
      let checkpoint: unknown = null;
      const req = copyOf(remote(plainA.url), remote(proxy.url), {
        sourceRepository: 'team/resume',
        chunkBytes: 1024 * 1024,
        blobConcurrency: 1,
        saveCheckpoint: async (value) => {
          checkpoint = value;
        },
      });
      const failed = await copyImage(req).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(TransferError);
      expect((failed as TransferError).retryable).toBe(true);
      const before = proxy.counts();
      expect(before.patches).toBe(6);
      expect(checkpoint).toMatchObject({ uploads: [{ uploadUrl: expect.any(String) as string, offset: expect.any(Number) as number }] });

      target = await startPlainRegistry({ storageDir, httpSecret, port });
      const resumed = await copyImage({ ...req, checkpoint });
      expect(resumed.outcome).toBe('copied');
      const after = proxy.counts();
      // Each blob finished once over both runs, and no byte was sent twice.
      expect([...after.finished].sort()).toEqual([built.configDigest, ...built.layerDigests].sort());
      const layerBytes = await Promise.all([built.configDigest, ...built.layerDigests].map(async (d) => (await remote(plainA.url).headBlob('team/resume', d))!));
      expect(after.patchedBytes).toBe(layerBytes.reduce((a, b) => a + b, 0));
      expect(resumed.blobsSkipped).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
      await target.stop();
    }
  });
});

describe('deleteImageTag', () => {
  it('on a 2.8 target with deletes enabled removes that tag only; an absent tag is absent', async () => {
    const target = remote(plainB.url);
    await copyImage(copyOf(remote(plainA.url), target, { targetRepository: 'del/app', tag: 'a' }));
    await copyImage(copyOf(remote(plainA.url), target, { targetRepository: 'del/app', tag: 'b' }));
    expect(await deleteImageTag(target, 'del/app', 'a')).toBe('deleted');
    expect(await target.headManifest('del/app', 'a')).toBeNull();
    expect((await target.headManifest('del/app', 'b'))?.digest).toBe(image.manifestDigest);
    expect((await target.tags('del/app')).sort()).toEqual(['b']);
    expect(await deleteImageTag(target, 'del/app', 'a')).toBe('absent');
  });

  it('a target without deletes fails not retryable with the reason, and the tag stays where it was', async () => {
    const target = remote(noDelete.url);
    await copyImage(copyOf(remote(plainA.url), target));
    const failed = await deleteImageTag(target, 'mirror/app', 'v1').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransferError);
    expect(failed).toMatchObject({ retryable: false });
    expect((failed as Error).message).toMatch(/refuses the delete.*storage\.delete\.enabled/);
    expect((await target.headManifest('mirror/app', 'v1'))?.digest).toBe(image.manifestDigest);
  });
});

describe('memory', () => {
  it('a 300 MB layer copied in a process of its own keeps its peak RSS under 150 MB', async () => {
    const big = await buildLargeImage(path.join(work, 'big'), { tag: 'v1', layers: 1, layerBytes: 300 * 1000 * 1000 });
    await push(`oci:${big.dir}:v1`, `${plainA.host}/team/big:v1`);
    await rm(big.dir, { recursive: true, force: true });
    // skopeo compresses the uncompressed layer on its way in: the registry's digest is the one to expect.
    const pushed = (await remote(plainA.url).headManifest('team/big', 'v1'))!.digest;
    const job = { source: { url: plainA.url }, sourceRepository: 'team/big', reference: 'v1', target: { url: plainB.url }, targetRepository: 'mirror/big', tag: 'v1' };
    const r = await run(process.execPath, ['--import', 'tsx', path.resolve('test/support/copy-process.ts'), JSON.stringify(job)], { timeoutMs: 240_000, isolateHome: false });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as CopyProcessReport;
    expect(report.result).toMatchObject({ outcome: 'copied', digest: pushed, blobsUploaded: 2 });
    expect(report.result.bytes).toBeGreaterThan(300 * 1000 * 1000);
    expect(report.peakRssBytes).toBeGreaterThan(0);
    expect(report.peakRssBytes, `peak RSS ${(report.peakRssBytes / 1024 / 1024).toFixed(0)} MiB`).toBeLessThan(150 * 1024 * 1024);
  }, 300_000);
});
