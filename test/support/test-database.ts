import { randomBytes } from 'node:crypto';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { inject } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { openConfiguredDatabase } from '../../src/db/connect';
import { tablesOf } from '../../src/db/engine';
import { openDatabase, type Db, type OpenDb } from '../../src/db/open';
import { postgresAt } from './postgres.js';

/** Whether this run puts test instances on PostgreSQL (WHARF_TEST_DATABASE=postgres) instead of SQLite in their data directory. */
export const onPostgres = process.env.WHARF_TEST_DATABASE === 'postgres';

// A restarted instance (the same data directory) finds the database it had; a new one gets its own.
const databaseOfDataDir = new Map<string, Promise<string>>();

/**
 * The database.url of a test instance with this data directory: empty on SQLite; on PostgreSQL a
 * database of its own on the run's server (test/support/postgres-global.ts), made on first use.
 */
export function testDatabaseUrl(dataDir: string): Promise<string> {
  if (!onPostgres) return Promise.resolve('');
  let url = databaseOfDataDir.get(dataDir);
  if (!url) {
    const address = inject('postgres');
    if (!address) throw new Error('WHARF_TEST_DATABASE=postgres but no PostgreSQL server was started (test/support/postgres-global.ts)');
    url = postgresAt(address).createDatabase(`wharf_test_${randomBytes(6).toString('hex')}`);
    databaseOfDataDir.set(dataDir, url);
  }
  return url;
}

/** Every value every table holds, as text: what a secret must never appear in (the PostgreSQL side of reading the SQLite file's bytes). */
export async function everyStoredValue(db: Db): Promise<string> {
  const tables = Object.values(tablesOf(db)) as SQLiteTable[];
  return JSON.stringify(await Promise.all(tables.map((t) => db.select().from(t))));
}

/** Every row of every table, by table, each row as JSON and sorted: two databases holding the same data compare equal. */
export async function rowsByTable(db: Db): Promise<Record<string, string[]>> {
  const tables = Object.entries(tablesOf(db)) as [string, SQLiteTable][];
  const rows = await Promise.all(tables.map(async ([name, t]) => [name, (await db.select().from(t)).map((r) => JSON.stringify(r)).sort()] as const));
  return Object.fromEntries(rows);
}

/** A fresh, migrated database of this run's engine for tests of stores and services without an instance: SQLite in memory, or a new PostgreSQL database. */
export async function openTestDatabase(): Promise<OpenDb> {
  if (!onPostgres) return openDatabase(':memory:');
  const url = await testDatabaseUrl(`(no data directory) ${randomBytes(6).toString('hex')}`);
  return openConfiguredDatabase(resolveConfig({ database: { url } }));
}
