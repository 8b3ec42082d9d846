import { readFileSync } from 'node:fs';
import { drizzle, NodePgSession, NodePgTransaction, type NodePgDatabase, type NodePgSessionOptions } from 'drizzle-orm/node-postgres';
import type { PgDialect } from 'drizzle-orm/pg-core';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Config } from '../config/schema';
import type { Log } from '../log';
import { packageFile } from '../package-files';
import { databaseUrlProblem, redactDatabaseUrl } from './database-url';
import type { Db } from './open';
import * as schema from './schema-pg';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

export interface OpenPostgres {
  db: PgDb;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Why the database cannot be used, on one line meant for the operator (no stack, no password). */
export class DatabaseStartError extends Error {
  override name = 'DatabaseStartError';
}

const migrationsFolder = packageFile('drizzle', 'pg');
/** Held while migrating: instances that start together apply the migrations one after another. */
const MIGRATION_LOCK_KEY = "hashtext('wharf.migrations')";
/**
 * Starts every transaction and takes the lock it holds until it ends, in one round trip:
 * transactions take turns as SQLite's BEGIN IMMEDIATE makes them, so the read-then-write services
 * behave the same on both engines.
 */
export const TRANSACTION_START = "begin; select pg_advisory_xact_lock(hashtext('wharf.transactions'))";

/** PostgreSQL error codes the operator can act on. */
const PG_WRONG_PASSWORD = '28P01';
const PG_AUTHORIZATION_REFUSED = '28000';
const PG_NO_DATABASE = '3D000';

type Where = { host: string; port: string; user: string; database: string };

function whereOf(url: string): Where {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username), database: decodeURIComponent(u.pathname.slice(1)) };
}

/** The first line of what went wrong, with the URL's password taken out should a message carry it. */
function reasonOf(err: unknown, url: string): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim() || String((err as { code?: unknown }).code ?? 'unknown error');
  const password = new URL(url).password;
  return password ? message.split(decodeURIComponent(password)).join('[redacted]') : message;
}

/** Maps a failed connect to a sentence saying which of URL, network, login, database or TLS is wrong. */
export function describeConnectError(err: unknown, url: string): string {
  const w = whereOf(url);
  const at = `PostgreSQL at ${w.host}:${w.port}`;
  const code = (err as { code?: unknown }).code;
  const reason = reasonOf(err, url);
  if (code === PG_WRONG_PASSWORD) return `database: ${at} refused user "${w.user}": wrong password (database.url)`;
  if (code === PG_AUTHORIZATION_REFUSED) return `database: ${at} refused user "${w.user}": ${reason}`;
  if (code === PG_NO_DATABASE) return `database: ${at} has no database "${w.database}"; create it (createdb -O ${w.user} ${w.database}) or fix database.url`;
  if (code === 'ECONNREFUSED') return `database: cannot reach ${at}: connection refused (is the server running, on that port?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `database: cannot reach ${at}: no such host`;
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timeout/i.test(reason))
    return `database: cannot reach ${at}: ${/timeout/i.test(reason) ? 'no answer in time' : reason}`;
  if (/SSL|TLS|certificate/i.test(reason)) return `database: TLS to ${at} failed: ${reason} (database.tls)`;
  return `database: ${at}: ${reason}`;
}

/** node-pg's TLS options for database.tls. */
export function tlsOptions(tls: Config['database']['tls']): pg.PoolConfig['ssl'] {
  if (!tls.enabled) return false;
  let ca: string | undefined;
  if (tls.caFile !== '') {
    try {
      ca = readFileSync(tls.caFile, 'utf8');
    } catch (err) {
      throw new DatabaseStartError(`database: cannot read database.tls.caFile ${tls.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { rejectUnauthorized: tls.rejectUnauthorized, ...(ca === undefined ? {} : { ca }) };
}

/** How to reach the server of `database.url`: the pool's connections and the dedicated ones (leadership, named locks) alike. */
export function connectionOptions(config: Config['database'], connectTimeoutMs = 10_000): pg.ClientConfig {
  return { connectionString: config.url, connectionTimeoutMillis: connectTimeoutMs, ssl: tlsOptions(config.tls), application_name: 'wharf' };
}

/**
 * Opens a pool on the PostgreSQL database of `database.url` and applies the committed migrations
 * of drizzle/pg/ under an advisory lock. Every failure is a DatabaseStartError saying which part
 * is wrong (the URL, the network, the login, the database, TLS, a migration).
 */
export async function openPostgres(
  config: Config['database'],
  opts: { log?: Log; connectTimeoutMs?: number } = {},
): Promise<OpenPostgres> {
  const problem = databaseUrlProblem(config.url);
  if (problem) throw new DatabaseStartError(`database.url: ${problem}`);
  const pool = new pg.Pool({
    ...connectionOptions(config, opts.connectTimeoutMs),
    max: config.poolSize,
    ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
  });
  // An idle connection the server dropped: the pool replaces it; without a listener it would end the process.
  pool.on('error', (err) => opts.log?.warn({ err: reasonOf(err, config.url), database: redactDatabaseUrl(config.url) }, 'idle PostgreSQL connection lost'));

  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new DatabaseStartError(describeConnectError(err, config.url));
  }
  try {
    await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
    try {
      await migrate(drizzle(client), { migrationsFolder });
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
    }
  } catch (err) {
    client.release(true);
    await pool.end().catch(() => {});
    const w = whereOf(config.url);
    // drizzle wraps the server's error in one whose message is the whole failed statement.
    const why = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    throw new DatabaseStartError(`database: applying drizzle/pg migrations to "${w.database}" on ${w.host}:${w.port} failed: ${reasonOf(why, config.url)}`);
  }
  client.release();
  const db = drizzle(pool, { schema }) as PgDb;
  return { db, pool, close: () => pool.end() };
}

type PgTx = { transaction<T>(work: (tx: PgTx) => Promise<T>): Promise<T> };

/** The drizzle session a pooled connection's transactions run on, kept on that connection. */
const sessionOfClient = Symbol('wharf.session');
type Session = ConstructorParameters<typeof NodePgTransaction>[1];
type SessionParts = { dialect: PgDialect; schema: ConstructorParameters<typeof NodePgSession>[2]; options: NodePgSessionOptions };

/**
 * A transaction on one pool client, after the transactions before it (TRANSACTION_START).
 * drizzle's own sends BEGIN and the lock in two round trips and makes a new session each time,
 * which builds every prepared statement (src/db/prepared.ts) again; one session per pooled
 * connection keeps them.
 */
export async function pgTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  const database = db as unknown as PgDb & { session: SessionParts };
  const { dialect, schema: relations, options } = database.session;
  const client = (await database.$client.connect()) as pg.PoolClient & { [sessionOfClient]?: Session };
  const session = (client[sessionOfClient] ??= new NodePgSession(client, dialect, relations, options) as unknown as Session);
  let unusable: Error | undefined;
  try {
    await client.query(TRANSACTION_START);
    const result = await work(new NodePgTransaction(dialect, session, relations as never) as unknown as Db);
    await client.query('commit');
    return result;
  } catch (err) {
    // A connection that cannot roll back may still be inside the transaction: it is closed, not reused.
    await client.query('rollback').catch((rollbackFailed: Error) => {
      unusable = rollbackFailed;
    });
    throw err;
  } finally {
    client.release(unusable);
  }
}

/** A savepoint inside the transaction `tx`: drizzle's nested transaction. */
export function pgSavepoint<T>(tx: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  return (tx as unknown as PgTx).transaction((inner) => work(inner as unknown as Db));
}
