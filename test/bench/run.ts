/**
 * `npm run bench`: throughput and latency of the token endpoint and of notification ingest, measured
 * with autocannon against a Wharf running in a separate process (test/bench/server.ts), over loopback.
 *
 * Not part of `npm test`; it asserts nothing about timings. It fails only when a scenario cannot
 * be verified up front or the server cannot be started.
 *
 * Environment:
 *   BENCH_SECONDS          measured seconds per scenario (default 10)
 *   BENCH_WARMUP_SECONDS   warm-up seconds per scenario, not measured (default 2)
 *   BENCH_CONNECTIONS      concurrent connections of the token scenarios (default 32); the ingest
 *                          scenarios name their own (the registry sends one notification at a time)
 *   BENCH_ONLY             comma-separated scenario keys to run, e.g. "b,c" or "push1,post1" (default all);
 *                          `start` is the start time and idle memory of the real server (startup.ts),
 *                          `plan` the time to plan a push policy over 10,000 tags (plan-push.ts),
 *                          `copy` the replication copier against skopeo (replication-copy.ts),
 *                          `pullcache` blob pulls with and without the blob-descriptor cache (pull-cache.ts)
 *                          `retention` retention planning over 100,000 tags (retention-plan.ts)
 *                          `quota` a project's usage recompute over 10,000 images (quota.ts)
 *   BENCH_COPY_ROUNDS      rounds of the copy comparison (default 2)
 *   BENCH_PULLCACHE_ROUNDS rounds of the pullcache comparison (default 15)
 *   BENCH_IDLE_SECONDS     how long the started server idles before its memory is read (default 30)
 *   BENCH_SERVER_NODE_ARGS extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * Later benches can import `startBenchServer`, `runScenario`, `formatTable` and `machineInfo`, or
 * add a row to `scenarios` below.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import {
  BENCH_ADMIN_PASSWORD,
  BENCH_LDAP_PASSWORD,
  BENCH_LDAP_USER,
  BENCH_PASSWORD,
  BENCH_SERVICE,
  BENCH_USER,
  INGEST_PULLED_DIGEST,
  LIST_REPOSITORY,
  basicAuth,
  listShape,
  registryEnvelope,
  type BenchServerReady,
} from './fixtures';
import { startPostgres } from '../support/postgres';
import { benchStartup } from './startup';
import { benchUiRender } from './ui-render';
import { benchPlanPush } from './plan-push';
import { benchReplicationCopy } from './replication-copy';
import { benchPullCache } from './pull-cache';
import { benchRetentionPlan } from './retention-plan';
import { benchQuota } from './quota';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

// ---------------------------------------------------------------------------------------------
// Settings

export interface BenchSettings {
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export function settingsFromEnv(): BenchSettings {
  return {
    seconds: envInt('BENCH_SECONDS', 10, 1),
    warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 2, 0),
    connections: envInt('BENCH_CONNECTIONS', 32, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// The server process

export interface BenchServer extends BenchServerReady {
  child: ChildProcess;
  /** Peak resident set size of the server process in bytes (Linux), or null. */
  peakRss(): number | null;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts test/bench/server.ts in its own Node process and waits for its ready line. */
export async function startBenchServer(opts: { nodeArgs?: string[]; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<BenchServer> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', path.join(here, 'server.ts')], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const ready = await new Promise<BenchServerReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bench server did not become ready in time')), opts.timeoutMs ?? 60_000);
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as BenchServerReady;
          if (typeof msg.url === 'string') {
            clearTimeout(timer);
            resolve(msg);
            return;
          }
        } catch {
          // not the ready line
        }
        process.stderr.write(`[bench server] ${line}\n`);
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`bench server exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
    return { ...ready, child, peakRss: () => readProcKb(ready.pid, 'VmHWM'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function readProcKb(pid: number, field: string): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

let clockTicks: number | undefined;
/** User + system CPU seconds a process has used so far (Linux), or null. */
function processCpuSeconds(pid: number): number | null {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clockTicks;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// One scenario

export interface ScenarioOptions extends Partial<BenchSettings> {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD';
  headers?: Record<string, string>;
  /** A fixed body, or one built afresh for every request. */
  body?: string | (() => string);
  /** The server's pid, to report its CPU use during the measured run. */
  serverPid?: number;
}

export interface ScenarioResult {
  name: string;
  url: string;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Server CPU time during the measured run as a share of one core (1 = 100 %), or null. */
  serverCpu: number | null;
  /** This process's (the load generator's) CPU time as a share of one core. */
  loadgenCpu: number;
}

interface Fired {
  result: autocannon.Result;
  latencies: Float64Array;
}

const withBody = (body: () => string) => (req: autocannon.Request) => ({ ...req, body: body() });

function fire(url: string, opts: ScenarioOptions, connections: number, seconds: number, keepLatencies: boolean): Promise<Fired> {
  let latencies = new Float64Array(keepLatencies ? 1 << 16 : 0);
  let n = 0;
  return new Promise<Fired>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ...(typeof opts.body === 'function' ? { requests: [{ setupRequest: withBody(opts.body) }] } : { body: opts.body }),
        connections,
        duration: seconds,
        timeout: 10,
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve({ result, latencies: latencies.subarray(0, n) });
      },
    );
    // autocannon's own histogram has 1 ms resolution; keep exact response times for percentiles.
    if (keepLatencies)
      instance.on('response', (_client, _status, _bytes, responseTime) => {
        if (n === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2);
          bigger.set(latencies);
          latencies = bigger;
        }
        latencies[n++] = responseTime;
      });
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Warms up, then loads `url` for the measured period and summarises what came back. */
export async function runScenario(name: string, url: string, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const defaults = settingsFromEnv();
  const connections = opts.connections ?? defaults.connections;
  const seconds = opts.seconds ?? defaults.seconds;
  const warmupSeconds = opts.warmupSeconds ?? defaults.warmupSeconds;

  if (warmupSeconds > 0) {
    const warm = await fire(url, opts, connections, warmupSeconds, false);
    if (warm.result.non2xx || warm.result.errors)
      process.stderr.write(`warning: ${name}: warm-up had ${warm.result.non2xx} non-2xx responses and ${warm.result.errors} errors\n`);
  }

  const serverCpuBefore = opts.serverPid ? processCpuSeconds(opts.serverPid) : null;
  const loadgenBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const { result, latencies } = await fire(url, opts, connections, seconds, true);
  const wall = Number(process.hrtime.bigint() - wallBefore) / 1e9;
  const loadgen = process.cpuUsage(loadgenBefore);
  const serverCpuAfter = opts.serverPid ? processCpuSeconds(opts.serverPid) : null;

  const sorted = latencies.slice().sort();
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  return {
    name,
    url,
    connections,
    seconds,
    requests: latencies.length,
    requestsPerSecond: result.requests.average,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    serverCpu: serverCpuBefore !== null && serverCpuAfter !== null ? (serverCpuAfter - serverCpuBefore) / wall : null,
    loadgenCpu: (loadgen.user + loadgen.system) / 1e6 / wall,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

export interface Scenario {
  /** Short key used in ratios and BENCH_ONLY, e.g. "a". */
  key: string;
  name: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string> | ((server: BenchServerReady) => Record<string, string>);
  /** Request body, fixed or built afresh for every request. */
  body?: string | (() => string);
  /** Connections for this scenario instead of BENCH_CONNECTIONS. */
  connections?: number;
  /** The row the token scenarios are compared with (at most one). */
  ceiling?: boolean;
  /** Key of the scenario this one is compared with instead of the ceiling. */
  versus?: string;
  /** Each answered request records one registry event: checked after the run. */
  recordsEvents?: boolean;
  /** Checked once before any load: throws when the endpoint does not answer as the scenario assumes. */
  verify?: (res: Response) => Promise<void>;
  /** Prepares the server right before this scenario runs (after the scenarios before it). */
  before?: (server: BenchServerReady) => Promise<string | null>;
  /** The list scenarios' registry size (tags) this scenario needs before it is verified. */
  listTags?: number;
  /** The legs that run it (default: SQLite and PostgreSQL). */
  legs?: Leg[];
}

/**
 * One bench server per leg: the embedded SQLite, PostgreSQL, and PostgreSQL with its
 * per-transaction advisory lock left out of its BEGIN (what that lock costs).
 */
export type Leg = 'sqlite' | 'postgres' | 'postgres-unlocked';
const LEGS: Leg[] = ['sqlite', 'postgres', 'postgres-unlocked'];
const LEG_NAMES: Record<Leg, string> = {
  sqlite: 'SQLite',
  postgres: 'PostgreSQL',
  'postgres-unlocked': 'PostgreSQL without the transaction lock',
};
const BOTH_ENGINES: Leg[] = ['sqlite', 'postgres'];
/** The rows that take transactions, also run without the lock. */
const WITH_LOCK_COST: Leg[] = [...BOTH_ENGINES, 'postgres-unlocked'];

/** Distinct failing names put into the login throttle before scenario (e). */
const THROTTLE_NAMES = 200_000;

const tokenQuery = (...scopes: string[]) =>
  `/service/token?service=${encodeURIComponent(BENCH_SERVICE)}${scopes.map((s) => `&scope=${encodeURIComponent(s)}`).join('')}`;

/** Expects 200 with a token and exactly `scope` as the granted scope. */
const grants = (scope: string) => async (res: Response) => {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { token?: string; scope?: string };
  if (!body.token) throw new Error(`no token in ${text.slice(0, 300)}`);
  if (body.scope !== scope) throw new Error(`expected scope ${JSON.stringify(scope)}, got ${JSON.stringify(body.scope)}`);
};

const notificationHeaders = (server: BenchServerReady) => ({
  authorization: `Bearer ${server.notificationSecret}`,
  'content-type': 'application/vnd.docker.distribution.events.v1+json',
});

/** Expects the notification endpoint's 200 with the event applied (not a duplicate, not rejected). */
const appliesOneEvent = async (res: Response) => {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { applied?: number };
  if (body.applied !== 1) throw new Error(`expected one applied event, got ${text.slice(0, 300)}`);
};

/** A distinct event id per request, as long as the registry's (a UUID). */
function eventIds(): () => string {
  const prefix = randomUUID().slice(0, 24);
  let n = 0;
  return () => `${prefix}${(n++).toString(16).padStart(12, '0')}`;
}

/** Each push names a new manifest under the same tag; each pull fetches the one pushed before. */
function ingestBody(action: 'push' | 'pull'): () => string {
  const nextId = eventIds();
  return () => {
    const id = nextId();
    const digest = action === 'push' ? `sha256:${createHash('sha256').update(id).digest('hex')}` : INGEST_PULLED_DIGEST;
    return registryEnvelope({ id, action, digest, timestamp: new Date().toISOString() });
  };
}

/**
 * The registry's notification ingest at one connection (how the registry sends: one event at a
 * time, waiting for each answer) and at 16 (many registries, or a future batching one), each
 * against a trivial POST of the same body at the same concurrency.
 */
function ingestScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const connections of [1, 16]) {
    const post = `post${connections}`;
    const perConnections = `${connections} connection${connections > 1 ? 's' : ''}`;
    const ingest = (action: 'push' | 'pull'): Scenario => ({
      ...(connections === 1 ? { legs: WITH_LOCK_COST } : {}),
      key: `${action}${connections}`,
      name: `(${action}${connections}) notification, manifest ${action} by tag, ${perConnections}`,
      path: '/service/notifications',
      method: 'POST',
      body: ingestBody(action),
      connections,
      versus: post,
      recordsEvents: true,
      headers: notificationHeaders,
      verify: appliesOneEvent,
    });
    out.push(
      ingest('push'),
      {
        ...ingest('pull'),
        // The pulled manifest must be in Wharf's tag state, as after a real push.
        before: async (server) => {
          const res = await fetch(`${server.url}/service/notifications`, {
            method: 'POST',
            headers: notificationHeaders(server),
            body: registryEnvelope({ id: randomUUID(), action: 'push', digest: INGEST_PULLED_DIGEST, timestamp: new Date().toISOString() }),
          });
          await appliesOneEvent(res);
          return null;
        },
      },
      {
        key: post,
        name: `(${post}) POST /bench/trivial, same body, ${perConnections}`,
        path: '/bench/trivial',
        method: 'POST',
        body: ingestBody('push'),
        connections,
        verify: async (res) => {
          const text = await res.text();
          if (res.status !== 200 || text !== 'ok') throw new Error(`expected 200 "ok", got ${res.status} ${JSON.stringify(text.slice(0, 100))}`);
        },
      },
    );
  }
  return out;
}

/** The registry sizes the list scenarios compare: their p95 at the larger must stay near the smaller's. */
const LIST_SCALES = [1_000, 100_000] as const;
const scaleKey = (tags: number) => (tags >= 1000 ? `${tags / 1000}k` : String(tags));
const adminHeaders = { authorization: basicAuth('admin', BENCH_ADMIN_PASSWORD) };

/** Expects a 200 page of the API's list shape; with `total`, exactly that many rows in the whole listing. */
const listsPage = (total?: { exactly?: number; atLeast?: number }) => async (res: Response) => {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { items?: unknown[]; total?: number };
  if (!Array.isArray(body.items) || body.items.length === 0 || typeof body.total !== 'number') throw new Error(`expected a non-empty page, got ${text.slice(0, 300)}`);
  if (total?.exactly !== undefined && body.total !== total.exactly) throw new Error(`expected total ${total.exactly}, got ${body.total}`);
  if (total?.atLeast !== undefined && body.total < total.atLeast) throw new Error(`expected total >= ${total.atLeast}, got ${body.total}`);
};

/** Grows the list registry to `totalTags`: how many rows it added, in how long. */
async function seedLists(server: BenchServerReady, totalTags: number): Promise<{ added: number; ms: number }> {
  const res = await fetch(`${server.url}/bench/seed-lists`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tags: totalTags }) });
  if (!res.ok) throw new Error(`seed-lists: ${res.status} ${await res.text()}`);
  return (await res.json()) as { added: number; ms: number };
}

/**
 * The API's first page (50 rows) of the tag list of LIST_REPOSITORY and of the repository list, as
 * admin with a warm credential cache, one request at a time, at each of LIST_SCALES.
 */
function listScenarios(): Scenario[] {
  return LIST_SCALES.flatMap((totalTags): Scenario[] => {
    const shape = listShape(totalTags);
    const at = `${totalTags.toLocaleString('en')} tags`;
    const checkAfterSeeding = (s: Pick<Scenario, 'path' | 'verify'>) => async (server: BenchServerReady) => {
      const { added, ms } = await seedLists(server, totalTags);
      await s.verify!(await fetch(`${server.url}${s.path}`, { headers: adminHeaders }));
      return added > 0 ? `list registry grown to ${at} (${added.toLocaleString('en')} tags and repositories added) in ${(ms / 1000).toFixed(1)} s` : null;
    };
    const tagList = { path: `/api/v1/repositories/${encodeURIComponent(LIST_REPOSITORY)}/tags`, verify: listsPage({ exactly: shape.bigRepositoryTags }) };
    const repositoryList = { path: '/api/v1/repositories', verify: listsPage({ atLeast: shape.otherRepositories + 1 }) };
    return [
      {
        key: `tags${scaleKey(totalTags)}`,
        name: `(tags${scaleKey(totalTags)}) GET tag list of ${LIST_REPOSITORY}, ${at}, 1 connection`,
        ...tagList,
        headers: adminHeaders,
        connections: 1,
        listTags: totalTags,
        before: checkAfterSeeding(tagList),
      },
      {
        key: `repos${scaleKey(totalTags)}`,
        name: `(repos${scaleKey(totalTags)}) GET repository list, ${(shape.otherRepositories + 1).toLocaleString('en')} repositories, ${at}, 1 connection`,
        ...repositoryList,
        headers: adminHeaders,
        connections: 1,
        listTags: totalTags,
        before: checkAfterSeeding(repositoryList),
      },
    ];
  });
}

export const scenarios: Scenario[] = [
  {
    key: 'a',
    name: '(a) token, anonymous pull of public pub/app',
    path: tokenQuery('repository:pub/app:pull'),
    verify: grants('repository:pub/app:pull'),
  },
  {
    key: 'b',
    name: '(b) token, Basic auth push+pull team/app (cached credentials)',
    path: tokenQuery('repository:team/app:pull,push'),
    headers: { authorization: basicAuth(BENCH_USER, BENCH_PASSWORD) },
    verify: grants('repository:team/app:pull,push'),
    legs: WITH_LOCK_COST,
  },
  {
    key: 'd',
    name: '(d) token, LDAP user push+pull team/app via group (cached credentials)',
    path: tokenQuery('repository:team/app:pull,push'),
    headers: { authorization: basicAuth(BENCH_LDAP_USER, BENCH_LDAP_PASSWORD) },
    verify: grants('repository:team/app:pull,push'),
  },
  {
    key: 'e',
    name: `(e) token, anonymous pull of public pub/app, ${THROTTLE_NAMES.toLocaleString('en')} failing names in the throttle`,
    path: tokenQuery('repository:pub/app:pull'),
    verify: grants('repository:pub/app:pull'),
    // The fill is one database write per name: minutes over PostgreSQL's round trips.
    legs: ['sqlite'],
    before: async (server) => {
      const res = await fetch(`${server.url}/bench/throttle-fill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: THROTTLE_NAMES }) });
      if (!res.ok) throw new Error(`throttle fill: ${res.status} ${await res.text()}`);
      const { ms } = (await res.json()) as { ms: number };
      return `throttle filled with ${THROTTLE_NAMES.toLocaleString('en')} failing names in ${(ms / 1000).toFixed(1)} s (${((ms * 1000) / THROTTLE_NAMES).toFixed(1)} µs a failure)`;
    },
  },
  ...ingestScenarios(),
  {
    key: 'c',
    name: '(c) GET /bench/trivial (ceiling)',
    path: '/bench/trivial',
    ceiling: true,
    verify: async (res) => {
      const text = await res.text();
      if (res.status !== 200 || text !== 'ok') throw new Error(`expected 200 "ok", got ${res.status} ${JSON.stringify(text.slice(0, 100))}`);
    },
  },
  ...listScenarios(),
];

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const pct = (share: number | null) => (share === null ? 'n/a' : `${Math.round(share * 100)} %`);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

export function machineInfo(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function formatTable(rows: ScenarioResult[]): string {
  const lines = [
    '| scenario | requests/s | p50 ms | p99 ms | non-2xx | errors | server CPU | loadgen CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const codes = Object.entries(r.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, count]) => `${code}×${count}`)
      .join(' ');
    lines.push(
      `| ${r.name} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${r.non2xx}${codes ? ` (${codes})` : ''} | ${r.errors}${r.timeouts ? ` (${r.timeouts} timeouts)` : ''} | ${pct(r.serverCpu)} | ${pct(r.loadgenCpu)} |`,
    );
  }
  return lines.join('\n');
}

/** "(b)/(c) = 41.2 %, (a)/(c) = 45.0 %": each row's requests/s against the ceiling's. */
export function formatRatios(results: { scenario: Scenario; result: ScenarioResult }[]): string | null {
  const ceiling = results.find((r) => r.scenario.ceiling);
  if (!ceiling || !ceiling.result.requestsPerSecond) return null;
  // Ingest rows and their trivial POSTs have their own line (formatIngestRatios).
  const parts = results
    .filter((r) => r !== ceiling && !r.scenario.versus && !results.some((x) => x.scenario.versus === r.scenario.key))
    .sort((x, y) => y.scenario.key.localeCompare(x.scenario.key))
    .map((r) => `(${r.scenario.key})/(${ceiling.scenario.key}) = ${fmt((100 * r.result.requestsPerSecond) / ceiling.result.requestsPerSecond, 1)} %`);
  const local = results.find((r) => r.scenario.key === 'b');
  const directory = results.find((r) => r.scenario.key === 'd');
  const ldapLine =
    local && directory && local.result.requestsPerSecond
      ? `\nLDAP user vs local user, both with a warm credential cache: (d)/(b) = ${fmt((100 * directory.result.requestsPerSecond) / local.result.requestsPerSecond, 1)} %`
      : '';
  const anonymous = results.find((r) => r.scenario.key === 'a');
  const throttled = results.find((r) => r.scenario.key === 'e');
  const throttleLine =
    anonymous && throttled
      ? `\nAnonymous token p50 with ${THROTTLE_NAMES.toLocaleString('en')} failing names in the throttle vs an empty one: (e)/(a) = ${fmt(throttled.result.p50Ms / anonymous.result.p50Ms, 2)}x (${fmt(throttled.result.p50Ms, 2)} ms vs ${fmt(anonymous.result.p50Ms, 2)} ms)`
      : '';
  return parts.length ? `Throughput relative to the ceiling: ${parts.join(', ')}${ldapLine}${throttleLine}` : null;
}

/** "(push1)/(post1) = 31.0 % (2,480 vs 8,000 req/s)": each ingest row against its trivial POST. */
export function formatIngestRatios(results: { scenario: Scenario; result: ScenarioResult }[]): string | null {
  const parts = results.flatMap((r) => {
    const base = results.find((b) => b.scenario.key === r.scenario.versus);
    if (!base || !base.result.requestsPerSecond) return [];
    const rate = (x: ScenarioResult) => Math.round(x.requestsPerSecond).toLocaleString('en');
    return [
      `(${r.scenario.key})/(${base.scenario.key}) = ${fmt((100 * r.result.requestsPerSecond) / base.result.requestsPerSecond, 1)} % (${rate(r.result)} vs ${rate(base.result)} req/s)`,
    ];
  });
  return parts.length ? `Notification ingest relative to a trivial POST of the same body at the same concurrency: ${parts.join(', ')}` : null;
}

async function eventsSeen(server: BenchServerReady): Promise<number> {
  const res = await fetch(`${server.url}/bench/events-seen`);
  if (!res.ok) throw new Error(`events-seen: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { n: number }).n;
}

const headersOf = (s: Scenario, server: BenchServerReady) => (typeof s.headers === 'function' ? s.headers(server) : s.headers);

// ---------------------------------------------------------------------------------------------
// Main

interface LegRun {
  leg: Leg;
  results: { scenario: Scenario; result: ScenarioResult }[];
  notes: string[];
  peak: number | null;
  loadBefore: number;
  loadAfter: number;
}

/** One bench server on the leg's database: verifies the leg's scenarios, then runs them in order. */
async function runLeg(leg: Leg, chosen: Scenario[], settings: BenchSettings, databaseUrl: string): Promise<LegRun> {
  // Other work on the machine skews every figure; the 1-minute load average makes it visible.
  const loadBefore = os.loadavg()[0]!;
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = { WHARF_BENCH_DATABASE_URL: databaseUrl, ...(leg === 'postgres-unlocked' ? { WHARF_BENCH_SKIP_TRANSACTION_LOCK: '1' } : {}) };
  const server = await startBenchServer({ nodeArgs, env });
  const onSignal = () => {
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stderr.write(`${LEG_NAMES[leg]}: bench server ${server.url} (pid ${server.pid}); ${settings.connections} connections, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s per scenario\n`);

    // The list scenarios' endpoints answer 404 until their registry exists.
    const firstListScale = Math.min(...chosen.map((s) => s.listTags ?? Infinity));
    if (Number.isFinite(firstListScale)) await seedLists(server, firstListScale);
    // Verified up front so a misconfigured scenario fails before any load is spent. This also puts
    // (b)'s credentials into the cache (which keeps entries for up to 60 s from here).
    for (const s of chosen) {
      const res = await fetch(`${server.url}${s.path}`, { method: s.method, headers: headersOf(s, server), body: typeof s.body === 'function' ? s.body() : s.body });
      try {
        await (s.listTags === undefined ? s.verify?.(res) : listsPage()(res));
      } catch (err) {
        throw new Error(`${LEG_NAMES[leg]}: scenario ${s.key} failed verification: ${(err as Error).message}`);
      }
    }

    const results: LegRun['results'] = [];
    const notes: string[] = [];
    for (const s of chosen) {
      const note = await s.before?.(server);
      if (note) notes.push(note);
      process.stderr.write(`${LEG_NAMES[leg]}: running ${s.name} ...\n`);
      const seenBefore = s.recordsEvents ? await eventsSeen(server) : 0;
      const result = await runScenario(s.name, `${server.url}${s.path}`, {
        ...settings,
        method: s.method,
        headers: headersOf(s, server),
        body: s.body,
        connections: s.connections ?? settings.connections,
        serverPid: server.pid,
      });
      if (s.recordsEvents) {
        const recorded = (await eventsSeen(server)) - seenBefore;
        // Warm-up events count too, so at least as many as were measured.
        if (recorded < result.requests) throw new Error(`${LEG_NAMES[leg]}: scenario ${s.key}: ${result.requests} answers but only ${recorded} events recorded`);
      }
      results.push({ scenario: s, result });
    }
    return { leg, results, notes, peak: server.peakRss(), loadBefore, loadAfter: os.loadavg()[0]! };
  } finally {
    await server.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function legReport(run: LegRun): string {
  const out = [
    `### ${LEG_NAMES[run.leg]}`,
    '',
    `- 1-minute load average: ${run.loadBefore.toFixed(2)} before, ${run.loadAfter.toFixed(2)} after (the bench itself adds about 2)`,
    '',
    formatTable(run.results.map((r) => r.result)),
    '',
  ];
  const ratios = formatRatios(run.results);
  if (ratios) out.push(ratios);
  const ingest = formatIngestRatios(run.results);
  if (ingest) out.push(ingest);
  out.push(...run.notes);
  out.push(`Server peak RSS (VmHWM): ${run.peak === null ? 'n/a' : mib(run.peak)}`);
  return out.join('\n');
}

/** What the issue asks of PostgreSQL against the same run's SQLite: requests/s at least this share. */
const ENGINE_AIMS: Record<string, number> = { b: 0.8, push1: 0.4, pull1: 0.4 };
const LIST_GROWTH_AIM = 1.5;
const LIST_P95_AIM_MS = 20;

/** Every scenario both engines ran: PostgreSQL's figure as a share of SQLite's (requests/s; p95 for the lists). */
export function formatEngineComparison(sqlite: LegRun, postgres: LegRun): string {
  const lines = ['| scenario | SQLite | PostgreSQL | PostgreSQL / SQLite | aim |', '|---|---:|---:|---:|---|'];
  for (const { scenario, result } of sqlite.results) {
    const other = postgres.results.find((r) => r.scenario.key === scenario.key)?.result;
    if (!other) continue;
    if (scenario.listTags !== undefined) {
      lines.push(`| ${scenario.name} | p95 ${fmt(result.p95Ms, 2)} ms | p95 ${fmt(other.p95Ms, 2)} ms | ${fmt(other.p95Ms / result.p95Ms, 2)}x | — |`);
      continue;
    }
    const share = other.requestsPerSecond / result.requestsPerSecond;
    const aim = ENGINE_AIMS[scenario.key];
    lines.push(
      `| ${scenario.name} | ${fmt(result.requestsPerSecond, 0)} req/s | ${fmt(other.requestsPerSecond, 0)} req/s | ${fmt(100 * share, 1)} % | ${aim === undefined ? '—' : `≥ ${aim * 100} %: ${share >= aim ? 'met' : '**not met**'}`} |`,
    );
  }
  return lines.join('\n');
}

/** Each engine's list p95 at the largest scale against the smallest. */
export function formatListGrowth(runs: LegRun[]): string | null {
  const small = scaleKey(LIST_SCALES[0]);
  const large = scaleKey(LIST_SCALES[LIST_SCALES.length - 1]!);
  const lines = [
    `| engine | list | p95 at ${LIST_SCALES[0].toLocaleString('en')} tags | p95 at ${LIST_SCALES[LIST_SCALES.length - 1]!.toLocaleString('en')} tags | growth | aim (≤ ${LIST_GROWTH_AIM}x, < ${LIST_P95_AIM_MS} ms) |`,
    '|---|---|---:|---:|---:|---|',
  ];
  for (const run of runs) {
    for (const list of ['tags', 'repos']) {
      const at = (k: string) => run.results.find((r) => r.scenario.key === `${list}${k}`)?.result;
      const a = at(small);
      const b = at(large);
      if (!a || !b) continue;
      const growth = b.p95Ms / a.p95Ms;
      const met = growth <= LIST_GROWTH_AIM && b.p95Ms < LIST_P95_AIM_MS;
      lines.push(
        `| ${LEG_NAMES[run.leg]} | ${list === 'tags' ? 'tag list' : 'repository list'} | ${fmt(a.p95Ms, 2)} ms | ${fmt(b.p95Ms, 2)} ms | ${fmt(growth, 2)}x | ${met ? 'met' : '**not met**'} |`,
      );
    }
  }
  return lines.length > 2 ? lines.join('\n') : null;
}

/** What PostgreSQL's per-transaction advisory lock costs: requests/s with it against without it. */
export function formatLockCost(locked: LegRun, unlocked: LegRun): string | null {
  const lines = ['| scenario | with the lock | without | with / without |', '|---|---:|---:|---:|'];
  for (const { scenario, result } of unlocked.results) {
    const withLock = locked.results.find((r) => r.scenario.key === scenario.key)?.result;
    if (!withLock) continue;
    lines.push(
      `| ${scenario.name} | ${fmt(withLock.requestsPerSecond, 0)} req/s, p50 ${fmt(withLock.p50Ms, 2)} ms | ${fmt(result.requestsPerSecond, 0)} req/s, p50 ${fmt(result.p50Ms, 2)} ms | ${fmt((100 * withLock.requestsPerSecond) / result.requestsPerSecond, 1)} % |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : null;
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  const settings = settingsFromEnv();
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const chosen = only.length ? scenarios.filter((s) => only.includes(s.key)) : scenarios;
  const startup = only.length === 0 || only.includes('start');
  const uiRender = only.length === 0 || only.includes('ui');
  const planPush = only.length === 0 || only.includes('plan');
  const replicationCopy = only.length === 0 || only.includes('copy');
  const pullCache = only.length === 0 || only.includes('pullcache');
  const retentionPlan = only.length === 0 || only.includes('retention');
  const quotaUsage = only.length === 0 || only.includes('quota');
  if (chosen.length === 0 && !startup && !uiRender && !planPush && !replicationCopy && !pullCache && !retentionPlan && !quotaUsage)
    throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY} names no scenario (keys: ${scenarios.map((s) => s.key).join(', ')}, start, ui, plan, copy, pullcache, retention, quota)`);
  const legs = (process.env.BENCH_LEGS ?? LEGS.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as Leg[];
  const unknownLeg = legs.find((l) => !LEGS.includes(l));
  if (unknownLeg !== undefined || legs.length === 0) throw new Error(`BENCH_LEGS must name some of ${LEGS.join(', ')}, got ${JSON.stringify(process.env.BENCH_LEGS)}`);

  // First, while no bench server runs beside it: the real server's start and idle memory.
  if (startup) process.stdout.write((await benchStartup(envInt('BENCH_IDLE_SECONDS', 30, 0))) + '\n\n');

  const postgres = chosen.length > 0 && legs.some((l) => l !== 'sqlite') ? await startPostgres() : null;
  const runs: LegRun[] = [];
  try {
    for (const leg of legs) {
      const ofLeg = chosen.filter((s) => (s.legs ?? BOTH_ENGINES).includes(leg));
      if (ofLeg.length === 0) continue;
      const databaseUrl = leg === 'sqlite' ? '' : await postgres!.createDatabase(`bench_${leg.replace('-', '_')}`);
      runs.push(await runLeg(leg, ofLeg, settings, databaseUrl));
    }
  } finally {
    await postgres?.stop();
  }

  const out = [
    `## Wharf token service, notification ingest and list benchmark`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${machineInfo()}`,
    `- load: autocannon, ${settings.connections} connections over loopback (ingest, trivial POST and list rows: as named), ${settings.warmupSeconds} s warm-up then ${settings.seconds} s measured per scenario; server and load generator in separate processes`,
    `- legs: ${runs.map((r) => LEG_NAMES[r.leg]).join('; ')} (PostgreSQL: Debian's, throw-away, on loopback, fsync off, test/support/postgres.ts)`,
    '',
  ];
  for (const run of runs) out.push(legReport(run), '');
  const ofLeg = (leg: Leg) => runs.find((r) => r.leg === leg);
  const sqliteRun = ofLeg('sqlite');
  const postgresRun = ofLeg('postgres');
  const unlockedRun = ofLeg('postgres-unlocked');
  if (sqliteRun && postgresRun) out.push('### PostgreSQL against SQLite, same run', '', formatEngineComparison(sqliteRun, postgresRun), '');
  const growth = formatListGrowth(runs);
  if (growth) out.push('### List latency as the registry grows', '', growth, '');
  const lockCost = postgresRun && unlockedRun ? formatLockCost(postgresRun, unlockedRun) : null;
  if (lockCost) out.push("### PostgreSQL's per-transaction advisory lock (src/db/pg.ts)", '', lockCost, '');
  const bad = runs.flatMap((run) => run.results.filter((r) => r.result.non2xx || r.result.errors).map((r) => `${r.scenario.key} (${LEG_NAMES[run.leg]})`));
  if (bad.length) out.push(`**Warning:** non-2xx responses or errors in: ${bad.join(', ')}`, '');
  if (runs.length) process.stdout.write(out.join('\n'));
  // UI render times (SQLite), in this process; a failure here is reported but does not hide the tables above.
  if (uiRender) {
    try {
      process.stdout.write('\n' + (await benchUiRender()) + '\n');
    } catch (err) {
      process.stderr.write(`bench: ui-render failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  // Replication planning on both engines, in this process; reported like ui-render.
  if (planPush) {
    try {
      process.stdout.write('\n' + (await benchPlanPush()) + '\n');
    } catch (err) {
      process.stderr.write(`bench: plan-push failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  // Retention planning, pure and in memory; reported like ui-render.
  if (retentionPlan) {
    try {
      process.stdout.write('\n' + (await benchRetentionPlan()) + '\n');
    } catch (err) {
      process.stderr.write(`bench: retention plan failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  // Quota usage recomputes on both engines, in this process; reported like plan-push.
  if (quotaUsage) {
    try {
      process.stdout.write('\n' + (await benchQuota()) + '\n');
    } catch (err) {
      process.stderr.write(`bench: quota failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  // The copier against skopeo, alone on the machine (no bench server beside it).
  if (replicationCopy) {
    try {
      process.stdout.write('\n' + (await benchReplicationCopy(envInt('BENCH_COPY_ROUNDS', 2, 1))) + '\n');
    } catch (err) {
      process.stderr.write(`bench: replication copy failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  // Blob pulls with and without the registry's blob-descriptor cache (Wharf's config has none).
  if (pullCache) {
    try {
      process.stdout.write('\n' + (await benchPullCache(envInt('BENCH_PULLCACHE_ROUNDS', 15, 1))) + '\n');
    } catch (err) {
      process.stderr.write(`bench: pullcache failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  process.stdout.write(`\nThe whole bench took ${((performance.now() - startedAt) / 1000).toFixed(0)} s.\n`);
  return bad.length ? 1 : 0;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  try {
    process.exitCode = await main();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
