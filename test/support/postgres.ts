import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { run, waitExit } from './exec.js';
import { freePort } from './ports.js';
import { startHelper, stopOnce, waitUntilReady } from './process.js';

/**
 * Throw-away PostgreSQL 15 server (Debian's /usr/lib/postgresql/15/bin): initdb into a temp dir,
 * `postgres` in the foreground as a tracked child running as the `postgres` account (it refuses
 * root), on a free loopback port with its unix socket in the temp dir, fsync off. TCP logins need
 * the password (scram-sha-256), so a wrong password is refused as on a real server.
 */

const BIN = '/usr/lib/postgresql/15/bin';
const SUPERUSER = 'wharf';

/** What a test process needs to reach a server another process started (vitest's provide/inject). */
export interface PostgresAddress {
  port: number;
  user: string;
  password: string;
  socketDir: string;
}

export interface PostgresServer extends PostgresAddress {
  host: string;
  /** postgres://wharf:…@127.0.0.1:PORT/dbName */
  url(dbName: string): string;
  /** CREATE DATABASE `name` (letters, digits, underscores); resolves with its url. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown and removal of the data; a no-op on a server this process did not start. Idempotent. */
  stop(): Promise<void>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set by test/support/postgres-global.ts when the whole run shares one server. */
    postgres: PostgresAddress | undefined;
  }
}

async function postgresAccount(): Promise<{ uid: number; gid: number }> {
  const r = await run('id', ['-u', 'postgres'], { isolateHome: false, timeoutMs: 5000 });
  const g = await run('id', ['-g', 'postgres'], { isolateHome: false, timeoutMs: 5000 });
  if (r.code !== 0 || g.code !== 0) throw new Error(`postgres fixture: no postgres account (install Debian's postgresql): ${r.stderr}`);
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** A server reached through its address; `stop` is the caller's (or nobody's). */
export function postgresAt(address: PostgresAddress, stop: () => Promise<void> = async () => {}): PostgresServer {
  const host = '127.0.0.1';
  const url = (dbName: string) =>
    `postgres://${encodeURIComponent(address.user)}:${encodeURIComponent(address.password)}@${host}:${address.port}/${encodeURIComponent(dbName)}`;
  return {
    ...address,
    host,
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`postgres fixture: database name ${JSON.stringify(name)} is not a plain identifier`);
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}

export async function startPostgres(opts: { readyTimeoutMs?: number } = {}): Promise<PostgresServer> {
  const account = userInfo().uid === 0 ? await postgresAccount() : undefined;
  const workDir = await mkdtemp(join(tmpdir(), 'wharf-pg-'));
  const dataDir = join(workDir, 'data');
  const password = randomBytes(12).toString('hex');
  const remove = () => rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  try {
    const pwFile = join(workDir, 'pwfile');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (account) {
      await chown(workDir, account.uid, account.gid);
      await chown(pwFile, account.uid, account.gid);
    }
    await chmod(workDir, 0o700);
    const initdb = [`${BIN}/initdb`, '-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwFile}`, '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync'];
    const made = account ? await run('runuser', ['-u', 'postgres', '--', ...initdb], { isolateHome: false }) : await run(initdb[0]!, initdb.slice(1), { isolateHome: false });
    if (made.code !== 0) throw new Error(`postgres fixture: initdb failed (code ${made.code}): ${(made.stderr + made.stdout).trim()}`);
  } catch (err) {
    await remove();
    throw err;
  }

  const port = await freePort();
  const settings = ['listen_addresses=127.0.0.1', `port=${port}`, `unix_socket_directories=${workDir}`, 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200'];
  const helper = startHelper(`${BIN}/postgres`, ['-D', dataDir, ...settings.flatMap((s) => ['-c', s])], { user: account });
  const address: PostgresAddress = { port, user: SUPERUSER, password, socketDir: workDir };
  const halt = async () => {
    if (helper.exitReason() === null) {
      // SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for every client to leave.
      helper.child.kill('SIGINT');
      await waitExit(helper.child, 10_000);
    }
    await helper.stop(2000);
  };
  const server = postgresAt(address, stopOnce(async () => {
    await halt();
    await remove();
  }));
  await waitUntilReady(helper, {
    name: 'postgres',
    where: `127.0.0.1:${port}`,
    timeoutMs: opts.readyTimeoutMs ?? 30_000,
    intervalMs: 50,
    async probe() {
      const client = new pg.Client({ connectionString: server.url('postgres'), connectionTimeoutMillis: 2000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch (err) {
        return (err as Error).message;
      } finally {
        await client.end().catch(() => {});
      }
    },
    async cleanUp() {
      await halt();
      await remove();
    },
  });
  return server;
}

/**
 * The server for one test file: the run's shared one when postgres-global.ts started it, else one
 * started for this file (its stop() ends it).
 */
export async function postgresForFile(): Promise<PostgresServer> {
  const shared = inject('postgres');
  return shared ? postgresAt(shared) : startPostgres();
}
