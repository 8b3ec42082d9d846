import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/schema';
import { redactDatabaseUrl } from './database-url';
import { DatabaseStartError, describeConnectError, tlsOptions } from './pg';

/**
 * PostgreSQL's own client programs (pg_dump, pg_restore) run for Wharf: which one, with the
 * connection of database.url and database.tls handed over through libpq's environment, the
 * password in a private passfile, never on a command line.
 */

type DatabaseConfig = Config['database'];
type PgTool = 'pg_dump' | 'pg_restore';

/** Where Debian's postgresql-client-N puts its programs, one folder per major version. */
export const DEBIAN_PG_LIB = '/usr/lib/postgresql';
/** Debian's bundle of the system's CAs: what node-pg trusts when database.tls.caFile is empty. */
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** A pg_dump or pg_restore that is missing, too old or failed: one line for the operator. */
export class PgToolError extends Error {
  override name = 'PgToolError';
}

const isExecutable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The program to run: beside the configured pg_dump (database.pgDump), else in the newest
 * Debian client folder (the newest can dump every older server), else on PATH; null when none is.
 */
export function findPgTool(name: PgTool, configuredPgDump: string, where: { libRoot?: string; pathEnv?: string } = {}): string | null {
  if (configuredPgDump !== '') {
    const file = name === 'pg_dump' ? configuredPgDump : path.join(path.dirname(configuredPgDump), name);
    return isExecutable(file) ? file : null;
  }
  const libRoot = where.libRoot ?? DEBIAN_PG_LIB;
  const versions = existsSync(libRoot) ? readdirSync(libRoot).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const file = path.join(libRoot, version, 'bin', name);
    if (isExecutable(file)) return file;
  }
  for (const dir of (where.pathEnv ?? process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

function requireTool(name: PgTool, config: DatabaseConfig): string {
  const file = findPgTool(name, config.pgDump);
  if (file) return file;
  if (config.pgDump !== '')
    throw new PgToolError(`${name} not found: ${name === 'pg_dump' ? config.pgDump : path.join(path.dirname(config.pgDump), name)} is not an executable file (database.pgDump)`);
  throw new PgToolError(`${name} not found in ${DEBIAN_PG_LIB}/*/bin or on PATH; install Debian's postgresql-client (or set database.pgDump)`);
}

/** The major version in `pg_dump --version` output ("pg_dump (PostgreSQL) 15.18 (Debian …)"); 9 for 9.6. */
export function majorOfVersionLine(line: string): number | null {
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(line);
  return m ? Number(m[1]) : null;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client program to its end; its stdout goes to `stdoutFd` when given. */
function runTool(file: string, args: string[], env: NodeJS.ProcessEnv, stdoutFd?: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) => reject(new PgToolError(`cannot run ${file}: ${err.code ?? err.message}`)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The first line a failed program printed, without the URL's password should it appear. */
function firstLine(text: string, url: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'no message';
  const password = new URL(url).password;
  return password ? line.split(decodeURIComponent(password)).join('[redacted]') : line;
}

/** A libpq passfile line matching every server: the password with `\` and `:` escaped. */
const passfileLine = (password: string) => `*:*:*:*:${password.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`;

/**
 * libpq's environment for database.url and database.tls (node-pg's choices: no TLS, TLS without
 * checks, or TLS checked against caFile or the system's CAs), and a passfile in a private folder
 * when the URL carries a password. `done` removes the folder.
 */
export function libpqEnvironment(config: DatabaseConfig, base: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; done(): void } {
  const env: NodeJS.ProcessEnv = { ...base, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'wharf' };
  const { tls } = config;
  env.PGSSLMODE = !tls.enabled ? 'disable' : tls.rejectUnauthorized ? 'verify-full' : 'require';
  delete env.PGSSLROOTCERT;
  if (tls.enabled && tls.caFile !== '') env.PGSSLROOTCERT = tls.caFile;
  else if (tls.enabled && tls.rejectUnauthorized && existsSync(SYSTEM_CA_BUNDLE)) env.PGSSLROOTCERT = SYSTEM_CA_BUNDLE;
  const password = decodeURIComponent(new URL(config.url).password);
  if (password === '') return { env, done: () => {} };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-pgpass-'));
  const passfile = path.join(dir, 'pgpass');
  writeFileSync(passfile, passfileLine(password), { mode: 0o600, flag: 'wx' });
  // PGPASSWORD would win over the passfile.
  delete env.PGPASSWORD;
  env.PGPASSFILE = passfile;
  return { env, done: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface DumpReport {
  /** Entries of the dump's table of contents (pg_restore --list). */
  entries: number;
  pgDump: { file: string; version: string };
  serverVersion: string;
}

/**
 * Dumps the database of database.url into `file` (created 0600, never overwritten) with pg_dump's
 * custom format: one transaction, so a consistent snapshot while instances write. Refuses a
 * pg_dump older than the server (it could not read newer catalogs), then reads the dump's table
 * of contents back with pg_restore as a check.
 */
export async function dumpPostgres(pool: pg.Pool, config: DatabaseConfig, file: string): Promise<DumpReport> {
  const pgDump = requireTool('pg_dump', config);
  const pgRestore = requireTool('pg_restore', config);
  const { env, done } = libpqEnvironment(config);
  try {
    const versionRun = await runTool(pgDump, ['--version'], env);
    const version = versionRun.stdout.trim();
    const dumpMajor = majorOfVersionLine(version);
    if (versionRun.code !== 0 || dumpMajor === null) throw new PgToolError(`${pgDump} --version did not say its version: ${firstLine(versionRun.stdout + versionRun.stderr, config.url)}`);
    const server = (await pool.query<{ server_version: string; server_version_num: string }>("SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS server_version_num")).rows[0]!;
    const serverMajor = Math.floor(Number(server.server_version_num) / 10000);
    if (dumpMajor < serverMajor)
      throw new PgToolError(
        `${pgDump} is version ${dumpMajor}, older than the server's ${serverMajor} (${server.server_version}); install postgresql-client-${serverMajor} or set database.pgDump to its pg_dump`,
      );

    const fd = openSync(file, 'wx', 0o600);
    let dumped: Ran;
    try {
      dumped = await runTool(pgDump, ['--format=custom', '--no-password', `--dbname=${redactDatabaseUrl(config.url)}`], env, fd);
    } finally {
      closeSync(fd);
    }
    if (dumped.code !== 0) throw new PgToolError(`pg_dump failed (exit ${dumped.code}): ${firstLine(dumped.stderr, config.url)}`);

    const listed = await runTool(pgRestore, ['--list', file], env);
    if (listed.code !== 0) throw new PgToolError(`pg_restore cannot read the dump pg_dump wrote: ${firstLine(listed.stderr, config.url)}`);
    const entries = listed.stdout.split('\n').filter((l) => /^\d+;/.test(l)).length;
    const numberOf = (text: string) => /\d+(?:\.\d+)*/.exec(text)?.[0] ?? text;
    return { entries, pgDump: { file: pgDump, version: numberOf(version.replace(/^.*\(PostgreSQL\)/, '')) }, serverVersion: numberOf(server.server_version) };
  } finally {
    done();
  }
}

/** Tables, views and sequences outside PostgreSQL's own schemas, and whether drizzle's migration schema exists. */
async function userRelations(config: DatabaseConfig): Promise<number> {
  const client = new pg.Client({ connectionString: config.url, ssl: tlsOptions(config.tls), connectionTimeoutMillis: 10_000, application_name: 'wharf' });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new DatabaseStartError(describeConnectError(err, config.url));
  }
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
            + (SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle') AS n`,
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Restores a dump made by dumpPostgres into the database of database.url, which must be empty
 * (no tables, no drizzle schema: a restore never merges into data). One transaction: all or
 * nothing. Objects are owned by the URL's user, whoever owned them where the dump was taken.
 */
export async function restorePostgres(config: DatabaseConfig, file: string): Promise<{ pgRestore: string }> {
  const pgRestore = requireTool('pg_restore', config);
  const found = await userRelations(config);
  if (found > 0) {
    const u = new URL(config.url);
    throw new PgToolError(
      `the database "${decodeURIComponent(u.pathname.slice(1))}" on ${u.hostname}:${u.port || '5432'} is not empty (${found} tables, sequences or schemas); restore into a new database (createdb)`,
    );
  }
  const { env, done } = libpqEnvironment(config);
  try {
    const restored = await runTool(
      pgRestore,
      ['--exit-on-error', '--single-transaction', '--no-owner', '--no-privileges', '--no-password', `--dbname=${redactDatabaseUrl(config.url)}`, file],
      env,
    );
    if (restored.code !== 0) throw new PgToolError(`pg_restore failed (exit ${restored.code}): ${firstLine(restored.stderr, config.url)}`);
    return { pgRestore };
  } finally {
    done();
  }
}
