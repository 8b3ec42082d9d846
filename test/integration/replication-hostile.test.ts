import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyImage, type CopyRequest } from '../../src/replication/copy';
import { RemoteRegistry, TransferError, type RegistryEndpoint } from '../../src/replication/remote';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';

/**
 * The copier against a hostile registry: a front in front of a real registry that bends its
 * answers (foreign upload locations and token realms, endless bodies, looping links, bytes that are
 * not their digest). Wharf's credentials stay with the registry they belong to, memory stays
 * bounded, and nothing that does not match its digest is accepted.
 */

const BASIC = { username: 'mirror', password: 'mirror-password-1' };
const BASIC_HEADER = `Basic ${Buffer.from(`${BASIC.username}:${BASIC.password}`).toString('base64')}`;

let work: string;
let source: PlainRegistry;
let target: PlainRegistry;
let basicTarget: PlainRegistry;
let image: BuiltImage;
const opened: RemoteRegistry[] = [];
const fronts: http.Server[] = [];

interface Seen {
  host: string;
  method: string;
  url: string;
  authorization: string | undefined;
}

interface Front {
  /** http://127.0.0.1:PORT: the registry's own origin. */
  url: string;
  /** http://localhost:PORT: the same server under another host name, so another origin. */
  foreign: string;
  seen: Seen[];
}

/**
 * A server in front of `backend` (listening on every address, so `localhost` reaches it too).
 * `bend` answers a request itself (true) or lets it through; `headers` rewrites what goes back.
 */
async function startFront(
  backend: PlainRegistry,
  opts: { bend?: (req: http.IncomingMessage, res: http.ServerResponse, front: Front) => boolean; headers?: (req: http.IncomingMessage, headers: http.IncomingHttpHeaders, front: Front) => void } = {},
): Promise<Front> {
  const front: Front = { url: '', foreign: '', seen: [] };
  const server = http.createServer((req, res) => {
    front.seen.push({ host: String(req.headers.host), method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    if (opts.bend?.(req, res, front)) {
      req.resume();
      return;
    }
    const out = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (answer) => {
      const headers = { ...answer.headers };
      opts.headers?.(req, headers, front);
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, resolve));
  fronts.push(server);
  const port = (server.address() as AddressInfo).port;
  front.url = `http://127.0.0.1:${port}`;
  front.foreign = `http://localhost:${port}`;
  return front;
}

function remote(endpoint: RegistryEndpoint | string): RemoteRegistry {
  const r = new RemoteRegistry(typeof endpoint === 'string' ? { url: endpoint } : endpoint, { timeoutMs: 10_000 });
  opened.push(r);
  return r;
}

const copyOf = (from: RemoteRegistry, to: RemoteRegistry, over: Partial<CopyRequest> = {}): CopyRequest => ({
  source: from,
  sourceRepository: 'team/app',
  reference: 'v1',
  target: to,
  targetRepository: 'mirror/app',
  tag: 'v1',
  override: true,
  ...over,
});

const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as TransferError,
  );

/** An answer that never ends: a chunk every few milliseconds until the client goes away. */
function endless(res: http.ServerResponse, contentType: string): void {
  res.writeHead(200, { 'content-type': contentType, 'docker-distribution-api-version': 'registry/2.0' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const timer = setInterval(() => {
    if (res.destroyed) clearInterval(timer);
    else res.write(chunk);
  }, 1);
  res.on('close', () => clearInterval(timer));
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-hostile-'));
  [source, target, basicTarget, image] = await Promise.all([
    startPlainRegistry(),
    startPlainRegistry(),
    startPlainRegistry({ htpasswd: BASIC }),
    buildImage(path.join(work, 'image'), { tag: 'v1', layers: 2 }),
  ]);
  const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${source.host}/team/app:v1`);
  expect(pushed.code, pushed.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
  for (const server of fronts) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await Promise.all([source?.stop(), target?.stop(), basicTarget?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe("credentials stay with the registry they belong to", () => {
  it('an upload Location on another host gets no Authorization: the copy fails there, the password never leaves', async () => {
    const front = await startFront(basicTarget, {
      headers: (req, headers, f) => {
        if (req.method === 'POST' && typeof headers.location === 'string') headers.location = new URL(headers.location, f.url).href.replace(f.url, f.foreign);
      },
    });
    const failed = await failureOf(copyImage(copyOf(remote(source.url), remote({ url: front.url, ...BASIC }))));
    expect(failed).toBeInstanceOf(TransferError);
    expect(failed.status).toBe(401);
    const foreign = front.seen.filter((s) => s.host.startsWith('localhost'));
    expect(foreign.length).toBeGreaterThan(0);
    expect(foreign.map((s) => s.authorization)).toEqual(foreign.map(() => undefined));
    expect(front.seen.some((s) => s.host.startsWith('127.0.0.1') && s.authorization === BASIC_HEADER)).toBe(true);
  });

  it('a token realm on another host over plain HTTP gets no password: ping and copy fail saying so', async () => {
    const realmHits: Seen[] = [];
    const realm = http.createServer((req, res) => {
      realmHits.push({ host: String(req.headers.host), method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
    });
    await new Promise<void>((resolve) => realm.listen(0, resolve));
    fronts.push(realm);
    const realmUrl = `http://localhost:${(realm.address() as AddressInfo).port}/token`;
    const front = await startFront(basicTarget, {
      bend: (req, res) => {
        if (req.headers.authorization?.startsWith('Bearer ')) return false;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmUrl}",service="hostile"`, 'docker-distribution-api-version': 'registry/2.0' }).end();
        return true;
      },
    });
    const ping = await remote({ url: front.url, ...BASIC }).ping();
    expect(ping).toMatchObject({ ok: false, auth: 'bearer' });
    expect(ping.error).toMatch(/another host over plain HTTP/);
    const failed = await failureOf(copyImage(copyOf(remote(source.url), remote({ url: front.url, ...BASIC }))));
    expect(failed).toMatchObject({ retryable: false, status: 401 });
    expect(failed.message).toMatch(/another host over plain HTTP/);
    expect(failed.message).not.toContain(BASIC.password);
    expect(realmHits).toEqual([]);
  });

  it('a blob redirected to another host is fetched there without the registry credentials', async () => {
    const front = await startFront(source, {
      bend: (req, res, f) => {
        if (!String(req.headers.host).startsWith('127.0.0.1')) return false;
        // The registry asks for Basic, so the copier holds credentials it could leak.
        if (req.headers.authorization !== BASIC_HEADER) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="front"', 'docker-distribution-api-version': 'registry/2.0' }).end();
          return true;
        }
        if (req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) return false;
        res.writeHead(307, { location: `${f.foreign}${req.url}` }).end();
        return true;
      },
    });
    const result = await copyImage(copyOf(remote({ url: front.url, ...BASIC }), remote(target.url), { targetRepository: 'redirected/app' }));
    expect(result.outcome).toBe('copied');
    const redirected = front.seen.filter((s) => s.host.startsWith('localhost'));
    expect(redirected.length).toBeGreaterThan(0);
    expect(redirected.every((s) => s.authorization === undefined)).toBe(true);
    expect(front.seen.some((s) => s.authorization === BASIC_HEADER)).toBe(true);
  });
});

describe('endless and looping answers end the call, not the memory', () => {
  it('a manifest that never ends: not retryable, refused past the manifest limit', async () => {
    const front = await startFront(source, {
      bend: (req, res) => {
        if (req.method !== 'GET' || !/\/manifests\//.test(req.url ?? '')) return false;
        endless(res, 'application/vnd.oci.image.manifest.v1+json');
        return true;
      },
    });
    const before = process.memoryUsage().rss;
    const failed = await failureOf(copyImage(copyOf(remote(front.url), remote(target.url), { targetRepository: 'endless/app' })));
    expect(failed).toMatchObject({ retryable: false });
    expect(failed.message).toMatch(/larger than \d+ bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a tag list that never ends, and one whose next link points back at itself, fail with the reason', async () => {
    const endlessFront = await startFront(source, {
      bend: (req, res) => {
        if (!/\/tags\/list/.test(req.url ?? '')) return false;
        endless(res, 'application/json');
        return true;
      },
    });
    expect((await failureOf(remote(endlessFront.url).tags('team/app'))).message).toMatch(/larger than \d+ bytes/);
    const loopFront = await startFront(source, {
      headers: (req, headers) => {
        if (/\/tags\/list/.test(req.url ?? '')) headers.link = `<${req.url}>; rel="next"`;
      },
    });
    expect((await failureOf(remote(loopFront.url).tags('team/app'))).message).toMatch(/points back at a page already read/);
  });
});

describe('a source that ignores Range', () => {
  it('answers each chunk with the whole blob: only the chunk is sent on, and the copy completes', async () => {
    const front = await startFront(source, {
      bend: (req) => {
        if (/\/blobs\/sha256:/.test(req.url ?? '')) delete req.headers.range;
        return false;
      },
    });
    const to = remote(target.url);
    const result = await copyImage(copyOf(remote(front.url), to, { targetRepository: 'unranged/app', chunkBytes: 1000 }));
    expect(result.outcome).toBe('copied');
    expect(front.seen.filter((s) => s.method === 'GET' && s.url.includes(image.layerDigests[0]!)).length).toBeGreaterThan(1);
    expect((await to.headManifest('unranged/app', 'v1'))?.digest).toBe(image.manifestDigest);
  });
});

describe('bytes that are not their digest', () => {
  it('a source serving a layer with one byte changed: the target refuses the upload, the copy fails, nothing is tagged', async () => {
    const layer = image.layerDigests[0]!;
    const front = await startFront(source, {
      bend: (req, res) => {
        if (req.method !== 'GET' || !req.url?.includes(`/blobs/${layer}`)) return false;
        const out = http.get({ host: '127.0.0.1', port: source.port, path: req.url, agent: false }, (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => {
            const body = Buffer.concat(chunks);
            body[body.length - 1] = body[body.length - 1]! ^ 0xff;
            res.writeHead(answer.statusCode ?? 200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' }).end(body);
          });
        });
        out.on('error', () => res.destroy());
        return true;
      },
    });
    const to = remote(target.url);
    const failed = await failureOf(copyImage(copyOf(remote(front.url), to, { targetRepository: 'corrupt/app' })));
    expect(failed).toBeInstanceOf(TransferError);
    expect(failed).toMatchObject({ retryable: false });
    expect(failed.message).toMatch(/DIGEST_INVALID|BLOB_UPLOAD_INVALID/);
    expect(await to.headBlob('corrupt/app', layer)).toBeNull();
    expect(await to.headManifest('corrupt/app', 'v1')).toBeNull();
  });
});
