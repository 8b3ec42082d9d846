import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runWharf, spawnWharfServe, type CliResult } from '../support/cli';
import { freePort } from '../support/ports';
import { postgresForFile, type PostgresServer } from '../support/postgres';
import { waitFor } from '../support/wait';

/** `wharf serve` and the CLI on a PostgreSQL database, as an operator runs them (database.url from WHARF_DATABASE_URL). */

const ADMIN = 'admin:admin-password-1';

let server: PostgresServer;
let work: string;
let env: Record<string, string>;

const wharf = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runWharf(args, { ...env, ...extra });

beforeAll(async () => {
  server = await postgresForFile();
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-pg-serve-'));
  const registryPort = await freePort();
  env = {
    WHARF_DATABASE_URL: await server.createDatabase('wharf_serve'),
    WHARF_DATA_DIR: path.join(work, 'data'),
    WHARF_ADMIN_PASSWORD: ADMIN.split(':')[1]!,
    WHARF_REGISTRY_MANAGE: 'false',
    WHARF_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    WHARF_RECONCILE_INTERVAL_SECONDS: '0',
  };
});
afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

it('serve starts on PostgreSQL and answers the API; the CLI then reads the same database; no SQLite file is made', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnWharfServe({ ...env, WHARF_LISTEN: `127.0.0.1:${port}`, WHARF_PUBLIC_URL: url, WHARF_LOG_LEVEL: 'silent' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const basic = `Basic ${Buffer.from(ADMIN).toString('base64')}`;
  try {
    await waitFor(async () => (await fetch(`${url}/api/v1/me`, { headers: { authorization: basic } }).catch(() => null))?.status === 200, 30_000, 'wharf serve answering');
    const created = await fetch(`${url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'pgalice', password: 'pgalice-password-1' }),
    });
    expect(created.status).toBe(201);
    const listed = (await (await fetch(`${url}/api/v1/users?q=pgal`, { headers: { authorization: basic } })).json()) as { items: { username: string }[]; total: number };
    expect(listed).toMatchObject({ total: 1, items: [{ username: 'pgalice' }] });
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited, stderr).toBe(0);

  const users = await wharf(['user', 'list']);
  expect(users.code, users.stderr).toBe(0);
  expect(users.stdout).toContain('pgalice');
  expect(existsSync(path.join(env.WHARF_DATA_DIR!, 'wharf.db'))).toBe(false);
});

it('wharf backup on PostgreSQL dumps the database with pg_dump beside the keys and secrets (restore: backup-postgres.test.ts)', async () => {
  const dir = path.join(work, 'backup');
  const r = await wharf(['backup', dir]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^ {2}wharf\.dump \([\d.]+ KiB, consistent snapshot: pg_dump custom format/m);
  expect(r.stdout).not.toContain(server.password);
  expect((await readdir(dir)).sort()).toEqual(['notification-secret', 'registry-http-secret', 'replication.key', 'token-signing.crt', 'token-signing.key', 'wharf.dump']);
});
