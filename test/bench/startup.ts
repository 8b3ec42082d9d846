/**
 * Start time and idle memory of the real server as `npm start` runs it (the built `dist/main.js`)
 * and as it ran before the build step (`tsx src/main.ts`), each supervising a real registry.
 *
 * For each command: a first start on an empty data directory, then a restart on the same
 * directory. Reported per start: the first answer of a route with no work behind it
 * (`GET /service/none`, 404), the first healthy `/api/v1/health`, and for the restart the resident
 * memory (VmRSS) of the Wharf server process (the one that supervises the registry) and of its node processes
 * together, `BENCH_IDLE_SECONDS` (default 30) after it was healthy, without any request meanwhile.
 *
 * Part of `npm run bench` (key `start`); alone: `npx tsx test/bench/startup.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitExit } from '../support/exec';
import { freePort } from '../support/ports';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface StartCommand {
  label: string;
  argv: string[];
  env?: Record<string, string>;
}

const npmStart = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;

/** `A=1 node x.js` as env and argv, run without a shell so that the signals reach node itself. */
function startScript(script: string): StartCommand {
  const words = script.split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
    const [name, ...value] = words.shift()!.split('=');
    env[name!] = value.join('=');
  }
  if (words[0] === 'node') words[0] = process.execPath;
  return { label: `\`${script}\` (npm start)`, argv: words, env };
}

/** What `npm start` runs (its prestart build done), the same without its malloc setting, and what it ran before the build step. */
export const START_COMMANDS: StartCommand[] = [
  startScript(npmStart),
  { label: 'node dist/main.js (glibc malloc defaults)', argv: [process.execPath, 'dist/main.js'] },
  { label: 'tsx src/main.ts (npm start before the build step)', argv: [path.join(repoRoot, 'node_modules/.bin/tsx'), 'src/main.ts'] },
];

export interface StartTiming {
  /** From spawn to the first answer of the trivial route. */
  firstAnswerMs: number;
  /** From spawn to the first `healthy` answer of /api/v1/health. */
  healthyMs: number;
}

export interface StartupResult {
  label: string;
  first: StartTiming;
  restart: StartTiming;
  /** VmRSS of the Wharf process (the registry's supervisor), idleSeconds after the restart was healthy. */
  serverRss: number | null;
  /** VmRSS of every node process the command started (tsx runs two). */
  nodeRss: number | null;
  nodeProcesses: number;
  idleSeconds: number;
}

function procStatus(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
}

const statusField = (status: string | null, field: string) => {
  const m = status?.match(new RegExp(`^${field}:\\s+(\\S+)`, 'm'));
  return m ? m[1]! : null;
};

/** The pid and its descendants (Linux /proc). */
function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statusField(procStatus(Number(entry)), 'PPid'));
    if (ppid) parents.set(Number(entry), ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

const isNode = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === process.execPath;
  } catch {
    return false;
  }
};

const rssOf = (pid: number) => {
  const kb = statusField(procStatus(pid), 'VmRSS');
  return kb === null ? null : Number(kb) * 1024;
};

async function until<T>(what: string, deadline: number, probe: () => Promise<T | null>): Promise<T> {
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Started {
  child: ChildProcess;
  timing: StartTiming;
  stop(): Promise<void>;
}

async function startOnce(command: StartCommand, dataDir: string): Promise<Started> {
  const port = await freePort();
  const registryPort = await freePort();
  const output: string[] = [];
  const t0 = performance.now();
  const child = spawn(command.argv[0]!, command.argv.slice(1), {
    cwd: repoRoot,
    env: {
      ...process.env,
      WHARF_DATA_DIR: dataDir,
      WHARF_LISTEN: `127.0.0.1:${port}`,
      WHARF_PUBLIC_URL: `http://127.0.0.1:${port}`,
      WHARF_REGISTRY_LISTEN: `127.0.0.1:${registryPort}`,
      WHARF_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
      WHARF_REGISTRY_MANAGE: 'true',
      WHARF_ADMIN_PASSWORD: 'bench-admin-password-1',
      WHARF_LOG_LEVEL: 'warn',
      ...command.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const stop = async () => {
    child.kill('SIGTERM');
    if (!(await waitExit(child, 10_000))) child.kill('SIGKILL');
    await waitExit(child, 5_000);
  };
  try {
    const deadline = Date.now() + 60_000;
    const alive = () => {
      if (child.exitCode !== null) throw new Error(`${command.label} exited (${child.exitCode}): ${output.join('').slice(-500)}`);
    };
    const base = `http://127.0.0.1:${port}`;
    const firstAnswerMs = await until('the first answer', deadline, async () => {
      alive();
      const res = await fetch(`${base}/service/none`);
      await res.arrayBuffer();
      return performance.now() - t0;
    });
    const healthyMs = await until('healthy', deadline, async () => {
      alive();
      const res = await fetch(`${base}/api/v1/health`);
      const body = (await res.json()) as { status?: string };
      return body.status === 'healthy' ? performance.now() - t0 : null;
    });
    return { child, timing: { firstAnswerMs, healthyMs }, stop };
  } catch (err) {
    await stop();
    throw new Error(`${command.label}: ${(err as Error).message}; its output: ${output.join('').slice(-500)}`);
  }
}

/** First start and restart of one command; memory read on the restart after idleSeconds. */
export async function measureStartup(command: StartCommand, idleSeconds: number): Promise<StartupResult> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wharf-bench-start-'));
  try {
    const first = await startOnce(command, dataDir);
    await first.stop();
    const restart = await startOnce(command, dataDir);
    try {
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      // The supervisor writes both pids there: the registry's and its own.
      const { pid: registryPid, wharfPid: serverPid } = JSON.parse(readFileSync(path.join(dataDir, 'registry.pid'), 'utf8')) as { pid: number; wharfPid: number };
      const nodes = processTree(restart.child.pid!).filter((pid) => pid !== registryPid && isNode(pid));
      const rss = nodes.map(rssOf);
      return {
        label: command.label,
        first: first.timing,
        restart: restart.timing,
        serverRss: serverPid ? rssOf(serverPid) : null,
        nodeRss: rss.every((r) => r !== null) ? rss.reduce((a, b) => a! + b!, 0) : null,
        nodeProcesses: nodes.length,
        idleSeconds,
      };
    } finally {
      await restart.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const ms = (n: number) => `${Math.round(n)}`;
const mib = (bytes: number | null) => (bytes === null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`);

export function formatStartupTable(rows: StartupResult[]): string {
  const idle = rows[0]?.idleSeconds ?? 30;
  return [
    `| command | first start: trivial route / healthy ms | restart: trivial route / healthy ms | server RSS ${idle} s after healthy | node processes (RSS) |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${ms(r.first.firstAnswerMs)} / ${ms(r.first.healthyMs)} | ${ms(r.restart.firstAnswerMs)} / ${ms(r.restart.healthyMs)} | ${mib(r.serverRss)} | ${r.nodeProcesses} (${mib(r.nodeRss)}) |`,
    ),
  ].join('\n');
}

/** Measures every command in START_COMMANDS; the built one needs `npm run build` first. */
export async function benchStartup(idleSeconds: number): Promise<string> {
  if (!existsSync(path.join(repoRoot, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const rows: StartupResult[] = [];
  for (const command of START_COMMANDS) {
    process.stderr.write(`start and idle memory: ${command.label} ...\n`);
    rows.push(await measureStartup(command, idleSeconds));
  }
  return [
    `Start and idle memory (each supervising a real registry; the trivial route is GET /service/none):`,
    '',
    formatStartupTable(rows),
  ].join('\n');
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const idle = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
  process.stdout.write((await benchStartup(idle)) + '\n');
}
