/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and self time
 * grouped by package / source file. For a quick look at where the bench server spends its time:
 *
 *   BENCH_ONLY=b BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/wharf-prof" npm run bench
 *   npx tsx test/bench/profile-summary.ts /tmp/wharf-prof/*.cpuprofile [topN]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** node_modules package, our source file relative to the repo, or a V8/Node category. */
function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.search(/\/(src|test)\//);
  return src !== -1 ? url.slice(src + 1) : url;
}

export function summarise(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const byFn = new Map<string, number>();
  const byGroup = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const group = groupOf(url, functionName);
    const fn = `${functionName || '(anonymous)'} ${group}${url ? `:${lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byGroup.set(group, (byGroup.get(group) ?? 0) + us);
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `| ${((100 * us) / total).toFixed(1)} % | ${(us / 1000).toFixed(0)} ms | ${k} |`);
  return [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled`,
    '',
    '| self | ms | by package / file |',
    '|---:|---:|---|',
    ...rows(byGroup),
    '',
    '| self | ms | by function |',
    '|---:|---:|---|',
    ...rows(byFn),
  ].join('\n');
}

const [, , ...args] = process.argv;
if (args.length) {
  const top = /^\d+$/.test(args[args.length - 1]!) ? Number(args.pop()) : 25;
  for (const file of args) process.stdout.write(summarise(file, top) + '\n\n');
}
