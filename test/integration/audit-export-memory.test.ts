import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { openConfiguredDatabase } from '../../src/db/connect';
import { firstRow } from '../../src/db/engine';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import { basic } from '../support/api-client';
import { spawnWharfServe } from '../support/cli';
import { freePort } from '../support/ports';
import { onPostgres, testDatabaseUrl } from '../support/test-database';
import { audit } from '../support/tables';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD } from '../support/wharf';

/**
 * The audit export of 100,000 rows from a `wharf serve` process: the file streams whole (every row
 * once, its own audit_export row first) while the server's resident memory stays flat, in both
 * formats; a client that goes away mid-file leaves the server idle. ROWS=1000000 for the large run.
 */

const ROWS = Number(process.env.WHARF_EXPORT_ROWS ?? 100_000);
/**
 * Growth of the server's RSS allowed over its size before the export. Holding the encoded file in
 * memory (the batches' text joined, rows released) costs several times this for 100,000 rows.
 */
const RSS_GROWTH_LIMIT = 40 * 1024 * 1024;

const SEED_START = Math.floor((Date.now() - (ROWS + 60) * 1000) / 1000) * 1000;
const OLDEST = new Date(SEED_START).toISOString();

let dataDir: string;
let db: OpenDb;
let server: ChildProcess;
let url: string;

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
/** CPU time of a process so far, in clock ticks (utime + stime). */
const cpuTicksOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
const auditCount = async () => (await firstRow(db.db.select({ n: count() }).from(audit)))!.n;

/** Realistic rows: pulls and pushes with digests, addresses, user agents and a detail. */
async function seed(n: number) {
  const batch = 1000;
  // Recent rows (one a second up to a minute ago): audit retention would purge old ones under the export.
  const start = SEED_START;
  for (let done = 0; done < n; ) {
    await transaction(db.db, async (tx) => {
      for (let k = 0; k < 20 && done < n; k++) {
        const rows = Array.from({ length: Math.min(batch, n - done) }, (_, i) => {
          const j = done + i;
          return {
            time: new Date(start + j * 1000).toISOString(),
            username: `user${j % 97}`,
            action: j % 4 === 0 ? 'push' : 'pull',
            resourceType: 'repository',
            resource: `team${j % 13}/app${j % 31}:v${j % 7}`,
            project: `team${j % 13}`,
            repository: `team${j % 13}/app${j % 31}`,
            tag: `v${j % 7}`,
            digest: `sha256:${j.toString(16).padStart(64, '0')}`,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            sourceIp: `10.${j % 256}.${(j >> 8) % 256}.7`,
            userAgent: j % 2 === 0 ? `containerd/1.7.${j % 20} (linux; amd64)` : `=cmd|' /C calc'!A0 containerd/1.7.${j % 20}`,
            detail: JSON.stringify({ claimedAddr: `192.0.2.${j % 256}` }),
          };
        });
        await tx.insert(audit).values(rows);
        done += rows.length;
      }
    });
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'wharf-export-memory-'));
  const databaseUrl = await testDatabaseUrl(dataDir);
  db = await openConfiguredDatabase(resolveConfig({ dataDir, database: { url: databaseUrl } }));
  const seeding = Date.now();
  await seed(ROWS);
  console.log(`seeded ${ROWS} audit rows on ${onPostgres ? 'PostgreSQL' : 'SQLite'} in ${Date.now() - seeding} ms`);
  const port = await freePort();
  const registryPort = await freePort();
  server = spawnWharfServe({
    WHARF_DATA_DIR: dataDir,
    WHARF_DATABASE_URL: databaseUrl,
    WHARF_LISTEN: `127.0.0.1:${port}`,
    WHARF_REGISTRY_MANAGE: 'false',
    WHARF_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
    WHARF_LOG_LEVEL: 'silent',
  });
  url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/api/v1/me`, { headers: { authorization: basic(admin) } }).catch(() => null))?.status === 200 || null, 30_000, 'wharf serve answering');
}, Math.max(120_000, ROWS / 4));

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('close', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await db?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Streams one export, reading it as it comes, counting lines and sampling the server's RSS. */
async function streamExport(format: 'jsonl' | 'csv') {
  const pid = server.pid!;
  // A smaller export first (the newest tenth): the route's code is loaded and the heap at its working size before the baseline.
  const since = new Date(SEED_START + Math.floor(ROWS * 0.9) * 1000).toISOString();
  const warm = await fetch(`${url}/api/v1/audit/export?format=${format}&since=${since}`, { headers: { authorization: basic(admin) } });
  await warm.text();
  (globalThis as { gc?: () => void }).gc?.();
  const expected = (await auditCount()) + 1;
  const baseline = rssOf(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
  const started = Date.now();
  const res = await fetch(`${url}/api/v1/audit/export?format=${format}`, { headers: { authorization: basic(admin) } });
  expect(res.status).toBe(200);
  let lines = 0;
  let bytes = 0;
  let first = '';
  let tail = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      const text = decoder.decode(chunk, { stream: true });
      if (first.length < 2000) first += text.slice(0, 2000);
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
      tail = (tail + text).slice(-4000);
    }
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, rssOf(pid));
  const ms = Date.now() - started;
  const growth = peak - baseline;
  console.log(
    `${format}: ${lines} lines, ${(bytes / 1e6).toFixed(1)} MB in ${ms} ms; server RSS ${(baseline / 2 ** 20).toFixed(1)} MiB before, peak ${(peak / 2 ** 20).toFixed(1)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB)`,
  );
  return { lines, first, tail, growth, expected };
}

describe(`the audit export of ${ROWS} rows from a wharf serve process`, () => {
  it('JSONL streams every row once, its own row first, with flat RSS', async () => {
    const r = await streamExport('jsonl');
    expect(r.lines).toBe(r.expected);
    expect(JSON.parse(r.first.slice(0, r.first.indexOf('\n')))).toMatchObject({ action: 'audit_export', username: 'admin' });
    // The oldest row last.
    expect(JSON.parse(r.tail.slice(r.tail.lastIndexOf('\n', r.tail.length - 2) + 1))).toMatchObject({ time: OLDEST, username: 'user0' });
    expect(r.growth).toBeLessThan(RSS_GROWTH_LIMIT);
  }, 120_000);

  it('CSV streams every row once after its header, with flat RSS', async () => {
    const r = await streamExport('csv');
    // CRLF ends each record; the user agents' formula is escaped.
    expect(r.lines).toBe(r.expected + 1);
    expect(r.first).toMatch(/^id,time,username,action,/);
    expect(r.first).toContain(`,'=cmd|' /C calc'!A0 containerd/1.7.`);
    expect(r.tail).toContain(`,${OLDEST},user0,push,`);
    expect(r.growth).toBeLessThan(RSS_GROWTH_LIMIT);
  }, 120_000);

  it('a client that goes away mid-file leaves the server idle: no batch is read after it', async () => {
    const pid = server.pid!;
    const ticksPerSecond = 100;
    const abort = new AbortController();
    const res = await fetch(`${url}/api/v1/audit/export?format=jsonl`, { headers: { authorization: basic(admin) }, signal: abort.signal });
    const reader = res.body!.getReader();
    let bytes = 0;
    const busy = cpuTicksOf(pid);
    const busyStart = Date.now();
    while (bytes < 2_000_000) bytes += (await reader.read()).value!.byteLength;
    const busyShare = (cpuTicksOf(pid) - busy) / ticksPerSecond / ((Date.now() - busyStart) / 1000);
    abort.abort();
    await reader.cancel().catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    const idle = cpuTicksOf(pid);
    await new Promise((r) => setTimeout(r, 1000));
    const idleShare = (cpuTicksOf(pid) - idle) / ticksPerSecond;
    console.log(`server CPU while streaming ${(busyShare * 100).toFixed(0)} %, in the second after the client left ${(idleShare * 100).toFixed(0)} %`);
    // The rest of the file would take seconds of CPU; an idle server takes almost none.
    expect(idleShare).toBeLessThan(0.1);
    // The server still answers.
    expect((await fetch(`${url}/api/v1/me`, { headers: { authorization: basic(admin) } })).status).toBe(200);
  }, 60_000);
});
