import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../support/cli';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { startCountingProxy, type CountingProxy } from '../support/counting-proxy';
import { trackChild, waitExit } from '../support/exec';
import { buildLargeImage, sha256Digest } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { freePort } from '../support/ports';
import { createPolicyAndWait, executionTasks, policyExecutions, waitExecutionDone, waitTagsKnown } from '../support/replication-api';
import { testDatabaseUrl } from '../support/test-database';
import { waitFor } from '../support/wait';
import { ADMIN_PASSWORD, admin } from '../support/wharf';

/**
 * Replication by a spawned `wharf serve` (its own supervised registry): killed with SIGKILL in the
 * middle of an execution it resumes after a restart; a 300 MB layer travels with its memory bounded.
 */

const MB = 1024 * 1024;
// A ceiling on the whole process, far above what one copy adds: the process's own peak before the
// copy (start, migrations, the kill test before this one) differs by engine and by load, so the
// claim that the copy's memory is bounded is the growth limit below, not this.
const RSS_LIMIT_BYTES = 256 * MB;
// What copying one blob may add to the resident memory of a running Wharf (its chunks are 16 MiB).
const COPY_GROWTH_LIMIT_BYTES = 64 * MB;

let work: string;
let target: PlainRegistry;
let proxy: CountingProxy;
let env: Record<string, string>;
let serve: ChildProcess | null = null;
let output = '';
let wharfUrl: string;
let server: Awaited<ReturnType<typeof buildServer>>;
let registryHost: string;

async function api(method: string, p: string, o: { auth?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${wharfUrl}${p}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function startServe(): Promise<ChildProcess> {
  const child = server.start(env);
  trackChild(child);
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-16_384));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`wharf serve exited (${child.exitCode}): ${output}`);
      return (await api('GET', '/api/v1/health').catch(() => null))?.status === 200;
    },
    60_000,
    'wharf serve healthy',
  );
  return child;
}

/** A `/proc/<pid>/status` memory figure in bytes: VmHWM (the peak so far) or VmRSS (now). */
const memory = (pid: number, field: 'VmHWM' | 'VmRSS'): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

async function digestAt(ref: string, creds?: string): Promise<string | null> {
  const r = await skopeoInspect(`docker://${ref}`, creds, { raw: true });
  return r.code === 0 ? sha256Digest(r.stdout) : null;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-repl-crash-'));
  // The server as `npm start` runs it: tsx's loader alone would hold more memory than a copy.
  server = await buildServer();
  target = await startPlainRegistry();
  proxy = await startCountingProxy(target.host);
  const dataDir = path.join(work, 'data');
  const [port, registryPort] = [await freePort(), await freePort()];
  wharfUrl = `http://127.0.0.1:${port}`;
  registryHost = `127.0.0.1:${registryPort}`;
  env = {
    WHARF_DATA_DIR: dataDir,
    WHARF_DATABASE_URL: await testDatabaseUrl(dataDir),
    WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
    WHARF_LISTEN: `127.0.0.1:${port}`,
    WHARF_PUBLIC_URL: wharfUrl,
    WHARF_REGISTRY_MANAGE: 'true',
    WHARF_REGISTRY_LISTEN: registryHost,
    WHARF_REGISTRY_URL: `http://${registryHost}`,
    WHARF_RECONCILE_INTERVAL_SECONDS: '0',
    // On PostgreSQL a killed instance's leases lapse after this long.
    WHARF_JOBS_LEASE_MS: '2000',
    WHARF_JOBS_POLL_MS: '200',
    WHARF_LOG_LEVEL: 'warn',
  };
  serve = await startServe();
  expect((await api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  expect((await api('POST', '/api/v1/registries', { auth: admin, body: { name: 'target', url: proxy.url, kind: 'distribution' } })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await waitExit(serve, 15_000);
  }
  await proxy?.close();
  await target?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  await server?.remove();
});

describe('a spawned Wharf (built as npm start runs it) replicating', () => {
  it('killed with SIGKILL mid-execution, it resumes after a restart and completes without re-sending the blobs that had arrived', async () => {
    const image = await buildLargeImage(path.join(work, 'kill'), { tag: 'v1', layers: 4, layerBytes: 16 * MB });
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${registryHost}/team/kill:v1`, { destCreds: admin, timeoutMs: 120_000 });
    expect(pushed.code, pushed.stderr).toBe(0);
    await waitTagsKnown(api, admin, 'team/kill', ['v1']);
    const created = await api('POST', '/api/v1/replication/policies', {
      auth: admin,
      // The bandwidth limit keeps the copy going long enough to be killed in the middle of it.
      body: { name: 'slow', direction: 'push', registry: 'target', project: 'team', filters: { repositories: ['kill'] }, bandwidthKBps: 8192, concurrency: 1, trigger: { type: 'manual' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await waitFor(() => proxy.counts().finished.length >= 2 && proxy.counts().patchedBytes > 0, 60_000, 'two blobs at the target');
    serve!.kill('SIGKILL');
    await waitExit(serve!, 10_000);
    const arrived = proxy.counts().finished;
    expect(arrived.length, 'the kill came after the whole image had arrived').toBeLessThan(image.layerDigests.length + 1);

    proxy.reset();
    serve = await startServe();
    const [run] = await policyExecutions(api, admin, 'slow');
    expect(run.trigger).toBe('creation');
    const done = await waitExecutionDone(api, admin, run.id, 90_000);
    expect(done, JSON.stringify(await executionTasks(api, admin, run.id))).toMatchObject({ status: 'succeeded', total: 1, succeeded: 1, failed: 0 });
    expect(proxy.counts().finished.filter((d) => arrived.includes(d))).toEqual([]);
    expect(await digestAt(`${target.host}/team/kill:v1`)).toBe(await digestAt(`${registryHost}/team/kill:v1`, admin));
  });

  it('a 300 MB layer travels without the resident memory of wharf serve growing by more than one chunk', async () => {
    const image = await buildLargeImage(path.join(work, 'big'), { tag: 'v1', layers: 1, layerBytes: 300 * MB });
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${registryHost}/team/big:v1`, { destCreds: admin, timeoutMs: 180_000 });
    expect(pushed.code, pushed.stderr).toBe(0);
    await waitTagsKnown(api, admin, 'team/big', ['v1']);
    await rm(image.dir, { recursive: true, force: true });
    const pid = serve!.pid!;
    const peakBefore = memory(pid, 'VmHWM');
    const rssBefore = memory(pid, 'VmRSS');
    let rssDuring = rssBefore;
    const sampler = setInterval(() => (rssDuring = Math.max(rssDuring, memory(pid, 'VmRSS'))), 100);
    try {
      const { execution } = await createPolicyAndWait(api, admin, {
        name: 'big',
        direction: 'push',
        registry: 'target',
        project: 'team',
        filters: { repositories: ['big'] },
        trigger: { type: 'manual' },
      });
      expect(execution).toMatchObject({ status: 'succeeded', succeeded: 1 });
      expect(execution.bytes).toBeGreaterThanOrEqual(300 * MB);
    } finally {
      clearInterval(sampler);
    }
    const peakAfter = memory(pid, 'VmHWM');
    const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
    console.log(`wharf serve: VmHWM ${mb(peakBefore)} before the copy, ${mb(peakAfter)} after; VmRSS ${mb(rssBefore)} before, at most ${mb(rssDuring)} during`);
    expect(rssDuring - rssBefore).toBeLessThan(COPY_GROWTH_LIMIT_BYTES);
    expect(peakAfter - peakBefore).toBeLessThan(COPY_GROWTH_LIMIT_BYTES);
    expect(peakAfter).toBeLessThan(RSS_LIMIT_BYTES);
    expect(await digestAt(`${target.host}/team/big:v1`)).toBe(await digestAt(`${registryHost}/team/big:v1`, admin));
  });
});
