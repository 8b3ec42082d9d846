/**
 * `BENCH_ONLY=pullcache npx tsx test/bench/pull-cache.ts` (or imported by run.ts): what pulls cost
 * without the registry's in-memory blob-descriptor cache, which Wharf drops from the registry
 * config (with it, an image deleted, garbage-collected and pushed again does not pull whole).
 *
 * Two plain registries on loopback, the same storage layout, one with `cache.blobdescriptor:
 * inmemory` and one without; the same image (many small layers) pushed to both with skopeo; then
 * rounds of HEAD + GET of every blob, 8 at a time, alternating between the two. Reports the median
 * round of each and the ratio. Asserts nothing about timings.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { skopeoCopy } from '../support/clients';
import { buildImage } from '../support/oci';
import { freePort } from '../support/ports';
import { startRegistryProcess, type RegistryProcess } from '../support/plain-registry';

const LAYERS = 48;
const CONCURRENCY = 8;

async function registry(work: string, name: string, cache: boolean): Promise<{ url: string; host: string; proc: RegistryProcess }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = path.join(work, `${name}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(path.join(work, name))}`,
      ...(cache ? ['  cache:', '    blobdescriptor: inmemory'] : []),
      'http:',
      `  addr: ${JSON.stringify(host)}`,
      '',
    ].join('\n'),
  );
  const proc = await startRegistryProcess(config, `http://${host}`, { readyStatus: 200 });
  return { url: `http://${host}`, host, proc };
}

async function round(url: string, repo: string, digests: string[]): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < digests.length) {
      const d = digests[next++]!;
      const head = await fetch(`${url}/v2/${repo}/blobs/${d}`, { method: 'HEAD' });
      if (head.status !== 200) throw new Error(`HEAD ${d}: ${head.status}`);
      const get = await fetch(`${url}/v2/${repo}/blobs/${d}`);
      if (get.status !== 200) throw new Error(`GET ${d}: ${get.status}`);
      await get.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return performance.now() - started;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchPullCache(rounds = 15): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'wharf-bench-pullcache-'));
  const started: RegistryProcess[] = [];
  try {
    const image = await buildImage(path.join(work, 'image'), { tag: 'v1', layers: LAYERS, layerSize: 16 * 1024 });
    const withCache = await registry(work, 'cached', true);
    started.push(withCache.proc);
    const without = await registry(work, 'uncached', false);
    started.push(without.proc);
    for (const r of [withCache, without]) {
      const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${r.host}/bench/image:v1`);
      if (pushed.code !== 0) throw new Error(`push failed: ${pushed.stderr}`);
    }
    const digests = [image.configDigest, ...image.layerDigests];
    // Warm-up: the first pull fills the cache of the one that has it.
    await round(withCache.url, 'bench/image', digests);
    await round(without.url, 'bench/image', digests);
    const cached: number[] = [];
    const uncached: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? [true, false] : [false, true];
      for (const c of order) (c ? cached : uncached).push(await round(c ? withCache.url : without.url, 'bench/image', digests));
    }
    const a = median(cached);
    const b = median(uncached);
    return [
      '### pullcache: pulls without the blob-descriptor cache',
      '',
      `${digests.length} blobs (16 KiB layers), HEAD + GET of each, ${CONCURRENCY} at a time; median of ${rounds} rounds each, alternating; plain registries (docker-registry) on loopback.`,
      '',
      '| registry config | median round (ms) | per blob (ms) |',
      '| --- | ---: | ---: |',
      `| cache.blobdescriptor: inmemory | ${a.toFixed(1)} | ${(a / digests.length).toFixed(2)} |`,
      `| no cache (Wharf's) | ${b.toFixed(1)} | ${(b / digests.length).toFixed(2)} |`,
      '',
      `ratio without / with cache: ${(b / a).toFixed(2)}`,
    ].join('\n');
  } finally {
    for (const p of started) await p.stop();
    await rm(work, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) process.stdout.write((await benchPullCache(Number(process.env.BENCH_PULLCACHE_ROUNDS ?? 15))) + '\n');
