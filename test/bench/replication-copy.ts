/**
 * The copier against skopeo: a 1 GiB image (8 layers of 128 MiB of random data, an OCI layout
 * pushed with skopeo) copied between two local plain registries by copyImage, in a process of its
 * own (test/support/copy-process.ts, which reports its peak RSS) both as `npm start` runs Wharf
 * (bundled by esbuild, plain node, its malloc setting) and under `node --import tsx`, and by `skopeo
 * copy --src-tls-verify=false --dest-tls-verify=false docker://A docker://B`, each into a fresh
 * registry, `BENCH_COPY_ROUNDS` times (default 2) in turn; the best round of each is compared.
 *
 * Part of `npm run bench` (key `copy`); alone: `BENCH_ONLY=copy npm run bench`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../support/exec';
import { buildLargeImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { bundleCopyProcess } from '../support/copy-bundle';
import type { CopyJob, CopyProcessReport } from '../support/copy-process';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const LAYERS = 8;
const LAYER_BYTES = 128 * 1024 * 1024;
const RSS_AIM_BYTES = 150 * 1024 * 1024;

/** One way of running a copier and what it took. */
interface Run {
  /** The copy alone (copyImage inside its process; skopeo from start to exit). */
  seconds: number;
  /** From the process's start to its exit. */
  wallSeconds: number;
  peakRss: number | null;
}

interface Copier {
  label: string;
  copy(from: PlainRegistry, to: PlainRegistry): Promise<Run>;
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/** copy-process.ts run by `argv` (node and its flags, the script). */
function wharfCopier(label: string, argv: string[], env: Record<string, string>, expectDigest: () => string): Copier {
  return {
    label,
    async copy(from, to) {
      const job: CopyJob = { source: { url: from.url }, sourceRepository: 'bench/big', reference: 'v1', target: { url: to.url }, targetRepository: 'bench/big', tag: 'v1' };
      const started = performance.now();
      const r = await run(argv[0]!, [...argv.slice(1), JSON.stringify(job)], { timeoutMs: 600_000, isolateHome: false, env });
      const wallSeconds = (performance.now() - started) / 1000;
      if (r.code !== 0) throw new Error(`${label} failed (${r.code}): ${r.stderr}`);
      const report = JSON.parse(r.stdout) as CopyProcessReport;
      if (report.result.digest !== expectDigest() || report.result.blobsUploaded !== LAYERS + 1) throw new Error(`${label} copied something else: ${JSON.stringify(report.result)}`);
      return { seconds: report.seconds, wallSeconds, peakRss: report.peakRssBytes };
    },
  };
}

/** skopeo under /usr/bin/time, which reports its peak RSS (kB) on the last line of stderr. */
const skopeoCopier: Copier = {
  label: 'skopeo copy',
  async copy(from, to) {
    const started = performance.now();
    const r = await run('/usr/bin/time', ['-f', '%M', 'skopeo', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from.host}/bench/big:v1`, `docker://${to.host}/bench/big:v1`], { timeoutMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;
    if (r.code !== 0) throw new Error(`skopeo copy failed (${r.code}): ${r.stderr}`);
    const kb = Number(r.stderr.trim().split('\n').pop());
    return { seconds, wallSeconds: seconds, peakRss: Number.isFinite(kb) ? kb * 1024 : null };
  },
};

export async function benchReplicationCopy(rounds = 2): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'wharf-bench-copy-'));
  const source = await startPlainRegistry();
  try {
    const bundled = await bundleCopyProcess(work);
    const built = await buildLargeImage(path.join(work, 'image'), { tag: 'v1', layers: LAYERS, layerBytes: LAYER_BYTES });
    const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${built.dir}:v1`, `docker://${source.host}/bench/big:v1`], { timeoutMs: 600_000 });
    if (pushed.code !== 0) throw new Error(`skopeo push failed: ${pushed.stderr}`);
    await rm(built.dir, { recursive: true, force: true });
    const copiers = [
      wharfCopier('copyImage, bundled, as `npm start` runs Wharf', bundled.argv, bundled.env, () => built.manifestDigest),
      wharfCopier('copyImage under node --import tsx', [process.execPath, '--import', 'tsx', path.join(repoRoot, 'test/support/copy-process.ts')], {}, () => built.manifestDigest),
      skopeoCopier,
    ];
    const runs = copiers.map(() => [] as Run[]);
    for (let round = 0; round < rounds; round++) {
      for (const [i, copier] of copiers.entries()) {
        const target = await startPlainRegistry();
        try {
          runs[i]!.push(await copier.copy(source, target));
        } finally {
          await target.stop();
        }
      }
    }
    const best = (i: number) => Math.min(...runs[i]!.map((r) => r.seconds));
    const peak = (i: number) => Math.max(...runs[i]!.map((r) => r.peakRss ?? 0));
    const skopeoBest = best(copiers.length - 1);
    const lines = [
      `## Replication copy: ${LAYERS} layers of ${mib(LAYER_BYTES)} MiB (${mib(built.bytes)} MiB) between two local plain registries`,
      '',
      '| copier | copy, each round | process start to exit | peak RSS | best against skopeo |',
      '| --- | --- | --- | --- | --- |',
      ...copiers.map(
        (c, i) =>
          `| ${c.label} | ${runs[i]!.map((r) => `${r.seconds.toFixed(2)} s`).join(', ')} | ${runs[i]!.map((r) => `${r.wallSeconds.toFixed(2)} s`).join(', ')} | ${runs[i]!.map((r) => (r.peakRss === null ? '?' : `${mib(r.peakRss)} MiB`)).join(', ')} | ${(best(i) / skopeoBest).toFixed(2)} |`,
      ),
      '',
      `- wharf/skopeo (best rounds, the copy alone, bundled as \`npm start\` runs it): ${(best(0) / skopeoBest).toFixed(2)} (aim at most 1.00)`,
      `- Wharf's peak RSS: ${mib(peak(0))} MiB bundled, ${mib(peak(1))} MiB under tsx (aim under ${mib(RSS_AIM_BYTES)} MiB)`,
    ];
    return lines.join('\n');
  } finally {
    await source.stop();
    await rm(work, { recursive: true, force: true });
  }
}
