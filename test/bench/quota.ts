/**
 * How long recomputing a project's storage usage takes (src/storage/quota.ts recomputeUsage: one
 * aggregate over manifest_blobs, each distinct blob once), for a project of 10,000 images in 100
 * repositories, about 5 blobs each (the manifest, its config, a base layer every image shares and
 * two layers from a pool of 2,000 shared across images), on SQLite and on PostgreSQL. Rows are
 * seeded directly. One warm-up, then 5 timed recomputes: median and slowest.
 *
 * Called by test/bench/run.ts (BENCH_ONLY=quota); returns a markdown table.
 */
import { performance } from 'node:perf_hooks';
import { onEachEngine } from './engines';
import { tablesOf } from '../../src/db/engine';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import { recomputeUsage } from '../../src/storage/quota';

const IMAGES = 10_000;
const REPOSITORIES = 100;
const LAYER_POOL = 2_000;
const MEASURED = 5;
const at = '2026-01-01T00:00:00.000Z';

const digest = (kind: string, n: number) => `sha256:${kind}${n.toString(16).padStart(64 - kind.length, '0')}`;

async function seed(d: OpenDb): Promise<{ projectId: number; blobRows: number; expected: number }> {
  const { projects, repositories, manifests, manifestBlobs } = tablesOf(d.db);
  const [project] = await d.db.insert(projects).values({ name: 'bench-quota' }).returning();
  const repos = await d.db
    .insert(repositories)
    .values(Array.from({ length: REPOSITORIES }, (_, r) => ({ name: `bench-quota/r${r}`, projectId: project!.id })))
    .returning();
  const seen = new Map<string, number>();
  let blobRows = 0;
  const perRepository = IMAGES / REPOSITORIES;
  for (const repo of repos) {
    const base = repos.indexOf(repo) * perRepository;
    await transaction(d.db, async (tx) => {
      const ms: { repositoryId: number; digest: string; mediaType: string; pushedAt: string }[] = [];
      const blobs: { repositoryId: number; manifestDigest: string; blobDigest: string; size: number }[] = [];
      for (let i = base; i < base + perRepository; i++) {
        const m = digest('m', i);
        ms.push({ repositoryId: repo.id, digest: m, mediaType: 'application/vnd.oci.image.manifest.v1+json', pushedAt: at });
        const kept = [
          [m, 500],
          [digest('c', i), 1_000],
          [digest('l', 0), 30_000_000],
          [digest('l', 1 + (i % LAYER_POOL)), 5_000_000],
          [digest('l', 1 + ((i * 7 + 3) % LAYER_POOL)), 2_000_000],
        ] as const;
        for (const [b, size] of kept) {
          if (blobs.some((x) => x.manifestDigest === m && x.blobDigest === b)) continue;
          blobs.push({ repositoryId: repo.id, manifestDigest: m, blobDigest: b, size });
          seen.set(b, Math.max(seen.get(b) ?? 0, size));
        }
      }
      await tx.insert(manifests).values(ms);
      for (let i = 0; i < blobs.length; i += 100) await tx.insert(manifestBlobs).values(blobs.slice(i, i + 100));
      blobRows += blobs.length;
    });
  }
  return { projectId: project!.id, blobRows, expected: [...seen.values()].reduce((a, b) => a + b, 0) };
}

async function timeEngine(engine: string, d: OpenDb): Promise<string> {
  const seedStart = performance.now();
  const { projectId, blobRows, expected } = await seed(d);
  const seedMs = performance.now() - seedStart;
  const used = await recomputeUsage(d.db, projectId, at);
  if (used !== expected) throw new Error(`${engine}: usage ${used}, expected ${expected}`);
  const times: number[] = [];
  for (let i = 0; i < MEASURED; i++) {
    const start = performance.now();
    await recomputeUsage(d.db, projectId, at);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return `| ${engine} | ${IMAGES} | ${blobRows} | ${times[Math.floor(MEASURED / 2)]!.toFixed(1)} ms | ${times[MEASURED - 1]!.toFixed(1)} ms | ${(seedMs / 1000).toFixed(1)} s |`;
}

export async function benchQuota(opts: { postgres: boolean } = { postgres: true }): Promise<string> {
  const rows = await onEachEngine('quota', opts.postgres, timeEngine);
  return [
    '### Recomputing a project\'s storage usage (src/storage/quota.ts recomputeUsage)',
    '',
    `In-process, manifest_blobs seeded directly; one warm-up, then ${MEASURED} timed recomputes (median, slowest).`,
    '',
    '| engine | images | blob rows | median | slowest | seeding |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
