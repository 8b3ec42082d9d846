/**
 * How long planning a retention run over 100,000 tags in 1,000 repositories takes: the pure
 * planner (src/storage/retention-plan.ts) and the bytes-reclaimable computation over the blobs of
 * those images (src/storage/retention-store.ts), in this process, from data in memory. Tags carry
 * push and pull times, a tenth share a digest with a sibling, every tenth image has a signature
 * tag, and each image holds a config, two layers of its own and one base layer shared by the
 * repository. Two policies: one rule (keep the 10 latest pushed) and four (latest pulled of a tag
 * glob, days, always). One warm-up, then 5 timed runs; the median and the slowest are reported.
 *
 * Called by test/bench/run.ts (BENCH_ONLY=retention); returns a markdown table. Runs alone with
 * `npx tsx test/bench/retention-plan.ts`.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { planRetention, type PlanManifest, type PlanTag, type RetentionRule } from '../../src/storage/retention-plan';
import { bytesReclaimable, type ProjectBlob } from '../../src/storage/retention-store';

const REPOSITORIES = 1_000;
const TAGS_PER_REPOSITORY = 100;
const MEASURED = 5;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function fixture(): { tags: PlanTag[]; manifests: PlanManifest[]; blobs: ProjectBlob[] } {
  const tags: PlanTag[] = [];
  const manifests: PlanManifest[] = [];
  const blobs: ProjectBlob[] = [];
  let next = 1;
  for (let r = 0; r < REPOSITORIES; r++) {
    const repository = `bench/repo-${r}`;
    const base = digestOf(next++);
    let digest = '';
    for (let i = 0; i < TAGS_PER_REPOSITORY; i++) {
      // Every tenth tag is a sibling on the previous tag's image.
      if (i % 10 !== 5 || digest === '') {
        digest = digestOf(next++);
        manifests.push({ repository, digest, children: null, subject: null });
        blobs.push({ repository, manifestDigest: digest, blobDigest: digest, size: 1_000 });
        blobs.push({ repository, manifestDigest: digest, blobDigest: base, size: 50_000_000 });
        for (let b = 0; b < 3; b++) blobs.push({ repository, manifestDigest: digest, blobDigest: digestOf(next++), size: 1_000_000 });
      }
      const pushedAt = new Date(NOW - ((i * 7919 + r) % 90) * DAY - i * 1000).toISOString();
      const lastPulledAt = i % 3 === 0 ? new Date(NOW - ((i * 104729 + r) % 30) * DAY).toISOString() : null;
      const name = i % 10 === 0 ? `sha256-${digest.slice(7)}.sig` : i % 4 === 0 ? `release-${i}` : `ci-${i}`;
      tags.push({ repository, tag: name, digest, pushedAt, lastPulledAt });
    }
  }
  return { tags, manifests, blobs };
}

const POLICIES: { name: string; rules: RetentionRule[] }[] = [
  { name: 'keep the 10 latest pushed', rules: [{ repositories: '**', tags: '*', keep: 'latestPushed', n: 10 }] },
  {
    name: 'four rules (pulled, days, always)',
    rules: [
      { repositories: '**', tags: 'ci-*', keep: 'latestPulled', n: 5 },
      { repositories: 'repo-1*', tags: 'ci-*', keep: 'pushedWithinDays', n: 14 },
      { repositories: '**', tags: 'release-*', keep: 'pulledWithinDays', n: 20 },
      { repositories: '**', tags: 'release-1*', keep: 'always' },
    ],
  },
];

function once(data: ReturnType<typeof fixture>, rules: RetentionRule[]) {
  const started = performance.now();
  const plan = planRetention({ policy: { rules, untagged: 'delete' }, tags: data.tags, manifests: data.manifests, immutable: [{ repositories: '**', tags: 'release-99' }], now: NOW });
  const planned = performance.now();
  const bytes = bytesReclaimable(data.blobs, plan.manifestsDeleted);
  return { planMs: planned - started, totalMs: performance.now() - started, deleted: plan.delete.length, bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchRetentionPlan(): Promise<string> {
  const data = fixture();
  const lines = [
    `### Retention planning (${data.tags.length.toLocaleString('en')} tags in ${REPOSITORIES.toLocaleString('en')} repositories, ${data.blobs.length.toLocaleString('en')} blob rows; aim: under 5 s)`,
    '',
    '| policy | tags deleted | plan median | plan + bytes median | slowest | aim |',
    '|---|---|---|---|---|---|',
  ];
  for (const policy of POLICIES) {
    once(data, policy.rules);
    const runs = Array.from({ length: MEASURED }, () => once(data, policy.rules));
    const total = median(runs.map((r) => r.totalMs));
    lines.push(
      `| ${policy.name} | ${runs[0]!.deleted.toLocaleString('en')} | ${median(runs.map((r) => r.planMs)).toFixed(0)} ms | ${total.toFixed(0)} ms | ${Math.max(...runs.map((r) => r.totalMs)).toFixed(0)} ms | ${total < 5000 ? 'met' : '**not met**'} |`,
    );
  }
  return lines.join('\n');
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) process.stdout.write((await benchRetentionPlan()) + '\n');
