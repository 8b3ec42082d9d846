/**
 * How long planning a push policy over 10,000 tags takes (src/replication/plan.ts planPush), on
 * SQLite (a file in a temporary directory) and on PostgreSQL (Debian's, throw-away, loopback), in
 * this process. The tag state is seeded through the artifacts store, as notifications fill it:
 *   - `spread`: 100 repositories of 100 tags each
 *   - `one repository`: 10,000 tags in one repository
 * each in its own project, under a policy with no filters and under one with repository and tag
 * globs. Each case: one warm-up plan, then 5 timed ones; the median and the slowest are reported.
 * No timing is asserted: the figures go to the README.
 *
 * Called by test/bench/run.ts (BENCH_ONLY=plan); returns a markdown table.
 */
import { performance } from 'node:perf_hooks';
import { onEachEngine } from './engines';
import { eq } from 'drizzle-orm';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { tablesOf } from '../../src/db/engine';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import { planPush } from '../../src/replication/plan';
import type { PolicyRow } from '../../src/replication/store';

const TAGS = 10_000;
const MEASURED = 5;
const at = '2026-01-01T00:00:00.000Z';

interface Layout {
  name: string;
  project: string;
  repositories: number;
}

const LAYOUTS: Layout[] = [
  { name: 'spread (100 repositories × 100 tags)', project: 'spread', repositories: 100 },
  { name: 'one repository (10,000 tags)', project: 'single', repositories: 1 },
];

const FILTERS = [
  { name: 'no filters', filters: {} },
  { name: 'globs (repositories `r0*`, `**`; tags `t*`, not `*9`)', filters: { repositories: ['r0*', '**'], excludeRepositories: ['r99'], tags: ['t*'], excludeTags: ['*9'] } },
];

/** The layout's tags in the tag state; returns its project's id. */
async function seed(d: OpenDb, layout: Layout): Promise<number> {
  const perRepository = TAGS / layout.repositories;
  await transaction(d.db, async (tx) => {
    for (let r = 0; r < layout.repositories; r++) {
      const repo = await ensureRepository(tx, `${layout.project}/r${String(r).padStart(2, '0')}`, 'library');
      for (let t = 0; t < perRepository; t++) {
        const digest = `sha256:${(r * perRepository + t).toString(16).padStart(64, '0')}`;
        await upsertManifest(tx, repo.id, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', pushedAt: at });
        await upsertTag(tx, repo.id, { name: `t${String(t).padStart(5, '0')}`, digest, pushedAt: at });
      }
    }
  });
  const { projects } = tablesOf(d.db);
  return (await d.db.select({ id: projects.id }).from(projects).where(eq(projects.name, layout.project)))[0]!.id;
}

const policy = (projectId: number, filters: object): PolicyRow => ({
  id: 1, name: 'bench', direction: 'push', registryId: 1, projectId, filters: JSON.stringify(filters), destination: null, override: true,
  deletions: false, triggerType: 'manual', triggerCron: null, replicateExisting: true, enabled: true, concurrency: 4, bandwidthKBps: null,
  description: null, createdBy: 'bench', createdAt: at, updatedAt: at,
});

async function timeEngine(engine: string, d: OpenDb): Promise<string[]> {
  const rows: string[] = [];
  for (const layout of LAYOUTS) {
    const seedStart = performance.now();
    const projectId = await seed(d, layout);
    const seedMs = performance.now() - seedStart;
    for (const f of FILTERS) {
      const p = policy(projectId, f.filters);
      const planned = (await planPush(d.db, p, layout.project)).length;
      const times: number[] = [];
      for (let i = 0; i < MEASURED; i++) {
        const start = performance.now();
        await planPush(d.db, p, layout.project);
        times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      rows.push(`| ${engine} | ${layout.name} | ${f.name} | ${planned} | ${times[Math.floor(MEASURED / 2)]!.toFixed(1)} ms | ${times[MEASURED - 1]!.toFixed(1)} ms | ${(seedMs / 1000).toFixed(1)} s |`);
    }
  }
  return rows;
}

export async function benchPlanPush(opts: { postgres: boolean } = { postgres: true }): Promise<string> {
  const rows = (await onEachEngine('plan', opts.postgres, timeEngine)).flat();
  return [
    '### Planning a push policy over 10,000 tags (src/replication/plan.ts)',
    '',
    `In-process, the tag state seeded through the artifacts store; one warm-up plan, then ${MEASURED} timed (median, slowest).`,
    '',
    '| engine | tag state | policy | tasks | median | slowest | seeding |',
    '|---|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
