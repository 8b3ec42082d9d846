/**
 * Benchmark target: a Wharf in its own process (so it does not share an event loop with the load
 * generator), on a free loopback port with a temporary data directory and no registry.
 *
 * Adds `GET /bench/trivial` (the framework ceiling), `POST /bench/trivial` (reads the body, answers
 * "ok": the notification ingest rows' denominator), `GET /bench/events-seen` (how many registry
 * events were recorded) and `POST /bench/throttle-fill {n}` (n distinct
 * failing names into the login throttle) and `POST /bench/seed-lists {tags}` (grows the registry the
 * list scenarios read to `tags` tags: see LIST_SHAPE in fixtures.ts), seeds
 *   - public project `pub`
 *   - project `team` with user `bench` (password `bench-password-1`) as developer
 *   - a real OpenLDAP (slapd) with user `ldapbench` in group `benchers`, developer of `team`
 * then prints one JSON line `{"url": ..., "pid": ...}` on stdout and waits. It stops (and removes
 * its data directory) on SIGTERM/SIGINT, or when stdin closes (the parent went away).
 *
 * The database is SQLite in the data directory, or PostgreSQL when WHARF_BENCH_DATABASE_URL is set.
 * WHARF_BENCH_SKIP_TRANSACTION_LOCK=1 starts PostgreSQL's transactions with a plain BEGIN, without
 * the advisory lock src/db/pg.ts sends with it, to measure what that lock costs.
 *
 * Started by test/bench/run.ts as `node --import tsx test/bench/server.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { count } from 'drizzle-orm';
import pg from 'pg';
import { tablesOf } from '../../src/db/engine';
import { TRANSACTION_START } from '../../src/db/pg';
import { resolveConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import { createLog } from '../../src/log';
import { startWharf, type Wharf } from '../../src/server';
import { startSlapd, type Slapd } from '../support/slapd';
import {
  BENCH_ADMIN_PASSWORD,
  BENCH_LDAP_PASSWORD,
  BENCH_LDAP_USER,
  BENCH_PASSWORD,
  BENCH_USER,
  basicAuth,
  type BenchServerReady,
} from './fixtures';
import { seedLists } from './list-registry';

async function call(url: string, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { authorization: basicAuth('admin', BENCH_ADMIN_PASSWORD), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`seeding: ${method} ${p} -> ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** Users and projects the scenarios of run.ts rely on, created through the public API. */
async function seed(url: string): Promise<void> {
  await call(url, 'POST', '/api/v1/projects', { name: 'pub', public: true });
  await call(url, 'POST', '/api/v1/projects', { name: 'team' });
  await call(url, 'POST', '/api/v1/users', { username: BENCH_USER, password: BENCH_PASSWORD });
  await call(url, 'PUT', `/api/v1/projects/team/members/${BENCH_USER}`, { role: 'developer' });
  await call(url, 'PUT', '/api/v1/projects/team/groups/benchers', { role: 'developer' });
}

/** Starts PostgreSQL's transactions without their advisory lock, as if every transaction got it at once. */
function skipTransactionLock(): void {
  const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    return query.apply(this, args[0] === TRANSACTION_START ? ['begin', ...args.slice(1)] : args);
  } as typeof pg.Client.prototype.query;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wharf-bench-'));
  let wharf: Wharf | undefined;
  let ldap: Slapd | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    try {
      await wharf?.stop();
      await ldap?.dispose();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      // process.exit (not a signal death) so that --cpu-prof, if given, writes its profile.
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.stdin.on('close', () => void stop(0));
  process.stdin.on('end', () => void stop(0));
  process.stdin.resume();

  const databaseUrl = process.env.WHARF_BENCH_DATABASE_URL ?? '';
  if (databaseUrl !== '' && process.env.WHARF_BENCH_SKIP_TRANSACTION_LOCK === '1') skipTransactionLock();
  try {
    ldap = await startSlapd({
      users: [{ uid: BENCH_LDAP_USER, password: BENCH_LDAP_PASSWORD }],
      groups: [{ cn: 'benchers', members: [BENCH_LDAP_USER] }],
    });
    const input: ConfigInput = {
      listen: '127.0.0.1:0',
      publicUrl: 'http://127.0.0.1:8080',
      dataDir,
      database: { url: databaseUrl },
      logLevel: 'silent',
      admin: { password: BENCH_ADMIN_PASSWORD },
      // No registry: the token endpoint does not need one. No periodic reconcile during the runs.
      registry: { manage: 'false' },
      reconcileIntervalSeconds: 0,
      // The throttle fill comes from one address; only the per-name counts are under test.
      auth: { maxFailuresPerAddress: 0 },
      ldap: {
        url: ldap.url,
        bindDN: ldap.readerDN,
        bindPassword: ldap.readerPassword,
        baseDN: ldap.peopleDN,
        groupBaseDN: ldap.groupsDN,
      },
    };
    const config = resolveConfig(input);
    wharf = await startWharf(config, {
      log: createLog(config.logLevel),
      announce: () => {},
      extend: (app) => {
        app.get('/bench/trivial', (c) => c.text('ok'));
        // The ingest rows' denominator: reads a body as the notification endpoint does, does nothing with it.
        app.post('/bench/trivial', async (c) => {
          await c.req.text();
          return c.text('ok');
        });
        app.get('/bench/events-seen', async (c) => {
          const { db } = c.var.deps;
          const [row] = await db.select({ n: count() }).from(tablesOf(db).eventsSeen);
          return c.json({ n: Number(row!.n) });
        });
        app.post('/bench/seed-lists', async (c) => {
          const { tags: totalTags } = (await c.req.json()) as { tags: number };
          const t0 = performance.now();
          const added = await seedLists(c.var.deps.db, totalTags);
          return c.json({ added, ms: performance.now() - t0 });
        });
        // Fills the login throttle with distinct failing names through its own code path (the
        // password hash is left out: it is not the throttle's cost).
        app.post('/bench/throttle-fill', async (c) => {
          const { n } = (await c.req.json()) as { n: number };
          const t0 = performance.now();
          for (let i = 0; i < n; i++) await c.var.deps.throttle.fail(`bench-failing-${i}`, null);
          return c.json({ n, ms: performance.now() - t0 });
        });
      },
    });
    await seed(wharf.url);
    const ready: BenchServerReady = { url: wharf.url, pid: process.pid, notificationSecret: wharf.deps.notificationSecrets.current };
    process.stdout.write(JSON.stringify(ready) + '\n');
  } catch (err) {
    process.stderr.write(`bench server: ${(err as Error).stack ?? String(err)}\n`);
    await stop(1);
  }
}

await main();
