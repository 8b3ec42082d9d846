import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { openDatabase } from '../../src/db/open';
import { DatabaseStartError, openPostgres, type OpenPostgres } from '../../src/db/pg';
import * as sqliteSchema from '../../src/db/schema';
import * as pgSchema from '../../src/db/schema-pg';
import { freePort } from '../support/ports.js';
import { postgresForFile, type PostgresServer } from '../support/postgres.js';

/** openPostgres: migrations under an advisory lock, rows as on SQLite, one clear line per start failure. */

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const databaseConfig = (url: string, over: Partial<Config['database']> = {}): Config['database'] => ({ ...resolveConfig({ database: { url } }).database, ...over });

let server: PostgresServer;
const opened: OpenPostgres[] = [];
const open = async (...args: Parameters<typeof openPostgres>) => {
  const o = await openPostgres(...args);
  opened.push(o);
  return o;
};

beforeAll(async () => {
  server = await postgresForFile();
});
afterAll(async () => {
  for (const o of opened) await o.close().catch(() => {});
  await server?.stop();
});

async function startError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error('expected openPostgres to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatabaseStartError);
  const message = (err as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  expect(message).not.toContain(server.password);
  expect(message).not.toMatch(/\.[cm]?[jt]s:\d+/);
  return message;
}

describe('openPostgres', () => {
  it('migrates an empty database; rows, defaults and booleans come back as on SQLite', async () => {
    const { db, pool } = await open(databaseConfig(await server.createDatabase('open_fresh')));
    const tables = await pool.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.rows.map((r) => r.tablename)).toContain('repository_changes');
    const applied = await pool.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
    expect(applied.rows[0].n).toBeGreaterThanOrEqual(1);

    const sqlite = openDatabase(':memory:');
    try {
      const user = { username: 'alice', usernameKey: 'alice', email: 'a@example.org', admin: true };
      const onPg = (await db.insert(pgSchema.users).values(user).returning())[0]!;
      const onSqlite = (await sqlite.db.insert(sqliteSchema.users).values(user).returning().get())!;
      expect(onPg.createdAt).toMatch(ISO_MS);
      expect(onSqlite.createdAt).toMatch(ISO_MS);
      const timeless = ({ createdAt, updatedAt, ...rest }: typeof onPg) => rest;
      expect(timeless(onPg)).toEqual(timeless(onSqlite));
      expect(onPg.updatedAt).toBe(onPg.createdAt);
      const big = Date.UTC(2030, 0, 1);
      await db.insert(pgSchema.loginThrottle).values({ key: 'name:alice', failures: 1, windowStart: big, expiresAt: big });
      expect((await db.select().from(pgSchema.loginThrottle).where(eq(pgSchema.loginThrottle.key, 'name:alice')))[0]).toEqual({ key: 'name:alice', failures: 1, windowStart: big, lockedUntil: 0, expiresAt: big });
    } finally {
      await sqlite.close();
    }
  });

  it('two instances opening one empty database at once both succeed, and the schema is made once', async () => {
    const url = await server.createDatabase('open_concurrent');
    const [a, b] = await Promise.all([open(databaseConfig(url)), open(databaseConfig(url))]);
    const users = await a.pool.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'users' AND relkind = 'r'");
    expect(users.rows[0].n).toBe(1);
    const applied = await b.pool.query('SELECT hash FROM drizzle.__drizzle_migrations');
    expect(new Set(applied.rows.map((r) => r.hash)).size).toBe(applied.rows.length);
    const again = await open(databaseConfig(url));
    expect((await again.pool.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations')).rows[0].n).toBe(applied.rows.length);
  });

  it('applies the pool size and the statement timeout', async () => {
    const { pool } = await open(databaseConfig(await server.createDatabase('open_settings'), { poolSize: 3, statementTimeoutMs: 1500 }));
    expect(pool.options.max).toBe(3);
    expect((await pool.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('1500ms');
    await expect(pool.query('SELECT pg_sleep(3)')).rejects.toThrow(/statement timeout/);
  });

  it('a malformed URL: one line naming database.url', async () => {
    expect(await startError(openPostgres(databaseConfig('', { url: 'postgres://wharf:pw@host-without-db' })))).toBe(
      'database.url: no database name after the host (expected postgres://user:password@host:5432/database)',
    );
  });

  it('an unreachable server: one line naming the address', async () => {
    const port = await freePort();
    const url = server.url('postgres').replace(`:${server.port}/`, `:${port}/`);
    expect(await startError(openPostgres(databaseConfig(url)))).toBe(
      `database: cannot reach PostgreSQL at 127.0.0.1:${port}: connection refused (is the server running, on that port?)`,
    );
  });

  it('a wrong password: one line naming the user', async () => {
    const url = server.url('postgres').replace(`:${server.password}@`, ':wrong-password@');
    expect(await startError(openPostgres(databaseConfig(url)))).toBe(
      `database: PostgreSQL at 127.0.0.1:${server.port} refused user "${server.user}": wrong password (database.url)`,
    );
  });

  it('a missing database: one line naming it', async () => {
    expect(await startError(openPostgres(databaseConfig(server.url('no_such_db'))))).toBe(
      `database: PostgreSQL at 127.0.0.1:${server.port} has no database "no_such_db"; create it (createdb -O ${server.user} no_such_db) or fix database.url`,
    );
  });

  it('TLS asked of a server without it, or an unreadable CA file: one line naming database.tls', async () => {
    const url = server.url('postgres');
    expect(await startError(openPostgres(databaseConfig(url, { tls: { enabled: true, caFile: '', rejectUnauthorized: true } })))).toBe(
      `database: TLS to PostgreSQL at 127.0.0.1:${server.port} failed: The server does not support SSL connections (database.tls)`,
    );
    expect(await startError(openPostgres(databaseConfig(url, { tls: { enabled: true, caFile: '/nonexistent/ca.pem', rejectUnauthorized: true } })))).toBe(
      'database: cannot read database.tls.caFile /nonexistent/ca.pem: ENOENT',
    );
  });
});
