/**
 * Server render time of the web interface's big pages, measured in-process with `app.request`
 * (no sockets): a real Wharf (buildInstance + createApp, temporary data directory, no registry),
 * seeded directly in the database with
 *   - project `big` with 10,000 repositories `big/r00000` .. `big/r09999` (plus `big/many`)
 *   - repository `big/many` (also in project `big`) with 10,000 tags `t00000` .. `t09999` over 100 digests
 *   - project `small` with 10 repositories (for comparison)
 * and signed in as `admin` with a session cookie. Each page: 20 warm-up requests, then 200 timed
 * ones, one at a time. Every response must be 200 and contain an expected name.
 *
 * Called at the end of test/bench/run.ts; returns a markdown table.
 */
import { performance } from 'node:perf_hooks';
import { manifests, projects, repositories, tags } from '../../src/db/schema';
import type { Instance } from '../../src/server';
import { startAppInstance } from '../support/instance';
import { seededDigest, seededManifests } from './fixtures';

const ADMIN_PASSWORD = 'ui-bench-admin-password-1';
const REPOSITORIES = 10_000;
const TAGS = 10_000;
const DIGESTS = 100;
const WARMUP = 20;
const MEASURED = 200;
const TARGET_P95_MS = 50;

const pad5 = (i: number) => String(i).padStart(5, '0');

interface Page {
  name: string;
  path: string;
  /** Text the response must contain. */
  expect: string;
}

interface PageResult extends Page {
  p50: number;
  p95: number;
  max: number;
  bytes: number;
}

async function seed(instance: Instance): Promise<void> {
  const { db } = instance.deps;
  const base = Date.parse('2024-01-01T00:00:00Z');
  const at = (i: number) => new Date(base + i * 60_000).toISOString();
  await db.transaction(async (tx) => {
    const [big] = await tx.insert(projects).values({ name: 'big', createdBy: 'admin' }).returning({ id: projects.id }).all();
    const [small] = await tx.insert(projects).values({ name: 'small', createdBy: 'admin' }).returning({ id: projects.id }).all();
    const repoRows = (projectId: number, prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ name: `${prefix}/r${pad5(i)}`, projectId, pullCount: i % 97, lastPushedAt: at(i) }));
    // Chunks keep each statement under SQLite's bound-parameter limit.
    const all = repoRows(big!.id, 'big', REPOSITORIES);
    for (let i = 0; i < all.length; i += 500) await tx.insert(repositories).values(all.slice(i, i + 500)).run();
    await tx.insert(repositories).values(repoRows(small!.id, 'small', 10)).run();
    const [repo] = await tx
      .insert(repositories)
      .values({ name: 'big/many', projectId: big!.id, pullCount: 12345, lastPushedAt: at(TAGS) })
      .returning({ id: repositories.id })
      .all();
    await tx.insert(manifests).values(seededManifests(repo!.id, DIGESTS)).run();
    const tagRows = Array.from({ length: TAGS }, (_, i) => ({
      repositoryId: repo!.id,
      name: `t${pad5(i)}`,
      digest: seededDigest(i % DIGESTS),
      pushedAt: at(i),
      pushedBy: 'admin',
      pullCount: i % 13,
    }));
    for (let i = 0; i < tagRows.length; i += 500) await tx.insert(tags).values(tagRows.slice(i, i + 500)).run();
  });
}

/** The registry's answers for the image page: a manifest of 20 layers and a config with env, labels, ports and history. */
function fakeImageAtRegistry(instance: Instance): void {
  const registry = instance.deps.registry;
  const layers = Array.from({ length: 20 }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: seededDigest(1000 + i), size: 1_000_000 + i }));
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      os: 'linux',
      architecture: 'amd64',
      config: {
        Env: Array.from({ length: 40 }, (_, i) => `VAR_${i}=${'v'.repeat(i * 10)}`),
        Entrypoint: ['/app'],
        Cmd: ['--serve'],
        Labels: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`org.example.label${i}`, `value ${i}`])),
        ExposedPorts: { '8080/tcp': {} },
      },
      history: Array.from({ length: 20 }, (_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `RUN step ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: seededDigest(999), size: config.length }, layers }),
  );
  registry.getManifest = async (_repository, reference) => ({ digest: reference, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length, body: manifest });
  registry.getBlob = async () => config;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function benchUiRender(): Promise<string> {
  const running = await startAppInstance('wharf-ui-bench-', ADMIN_PASSWORD);
  try {
    const { instance, app } = running;
    const seedStart = performance.now();
    await seed(instance);
    const seedMs = performance.now() - seedStart;
    const { cookie } = await running.session('admin');
    fakeImageAtRegistry(instance);

    const pages: Page[] = [
      { name: 'project page, 10 repositories', path: '/projects/small', expect: 'small/r00000' },
      { name: 'project page, 10,001 repositories', path: '/projects/big', expect: 'big/r00000' },
      { name: 'repository page, 10,000 tags', path: '/repositories/big/many', expect: `t${pad5(TAGS - 1)}` },
      { name: 'repository page, 10,000 tags, ?q=t0999', path: '/repositories/big/many?q=t0999', expect: 't09990' },
      // 100 tags on this digest; the registry's answers are served in-process (this bench has no registry).
      { name: 'image page, 20 layers, 100 tags', path: `/repositories/big/many/manifests/${seededDigest(0)}`, expect: 'RUN step 19' },
    ];

    const fetchPage = async (p: Page): Promise<number> => {
      const res = await app.request(p.path, { headers: { cookie } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`ui-render bench: GET ${p.path} -> ${res.status}: ${text.slice(0, 300)}`);
      if (!text.includes(p.expect)) throw new Error(`ui-render bench: GET ${p.path} does not contain ${JSON.stringify(p.expect)}`);
      return Buffer.byteLength(text);
    };

    const results: PageResult[] = [];
    for (const p of pages) {
      let bytes = 0;
      for (let i = 0; i < WARMUP; i++) bytes = await fetchPage(p);
      const times: number[] = [];
      for (let i = 0; i < MEASURED; i++) {
        const t0 = performance.now();
        await fetchPage(p);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      results.push({ ...p, p50: percentile(times, 50), p95: percentile(times, 95), max: times[times.length - 1]!, bytes });
    }

    const lines = [
      '## Wharf UI server render time',
      '',
      `- in-process \`app.request\`, signed in as admin; ${WARMUP} warm-up then ${MEASURED} sequential requests per page; seeding took ${seedMs.toFixed(0)} ms (one transaction)`,
      `- target: p95 < ${TARGET_P95_MS} ms`,
      '',
      '| page | path | p50 ms | p95 ms | max ms | response size | p95 < 50 ms |',
      '|---|---|---:|---:|---:|---:|:---:|',
      ...results.map(
        (r) =>
          `| ${r.name} | \`${r.path}\` | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.max.toFixed(2)} | ${(r.bytes / 1024).toFixed(1)} KiB | ${r.p95 < TARGET_P95_MS ? 'yes' : '**no**'} |`,
      ),
    ];
    return lines.join('\n');
  } finally {
    await running.stop();
  }
}
