import { is, sql } from 'drizzle-orm';
import { PgDatabase, PgTransaction } from 'drizzle-orm/pg-core';
import type { Db, RunResult } from './open';
import * as sqliteTables from './schema';
import * as pgTables from './schema-pg';

/** Which database a handle runs on: the embedded default, or a PostgreSQL server. */
export type Engine = 'sqlite' | 'postgres';

/** The largest value an `integer` column (ids included) holds on both engines: PostgreSQL's bound; past it a query fails. */
export const INTEGER_MAX = 2_147_483_647;

export const engineOf = (db: Db): Engine => (is(db, PgDatabase) ? 'postgres' : 'sqlite');

/** Whether `db` is a PostgreSQL transaction's handle (drizzle's own, on one pool client). */
export const isPgTransaction = (db: Db): boolean => is(db, PgTransaction);

/** The tables, typed as SQLite's: the PostgreSQL twins have the same row types (test/unit/db-schemas.test.ts). */
export type Tables = typeof sqliteTables;

/** The tables of the engine `db` was opened on; stores build every query on these. */
export const tablesOf = (db: Db): Tables => (engineOf(db) === 'postgres' ? (pgTables as unknown as Tables) : sqliteTables);

/** The first row a query answers (undefined when none): SQLite's `.get()`, on both engines. */
export const firstRow = async <T>(rows: PromiseLike<T[]>): Promise<T | undefined> => (await rows)[0];

/** How many rows a statement run for its effect changed: SQLite reports `changes`, node-postgres `rowCount`. */
export function rowsChanged(result: RunResult): number {
  if (typeof result.changes === 'number') return result.changes;
  return (result as unknown as { rowCount?: number | null }).rowCount ?? 0;
}

/** Whether the database answers a trivial query. */
export async function ping(db: Db): Promise<void> {
  if (engineOf(db) === 'postgres') await (db as unknown as PgDatabase<never>).execute(sql`select 1`);
  else await db.get(sql`select 1`);
}

/** PostgreSQL's code for text it cannot hold (a NUL character). */
const PG_UNSTORABLE_TEXT = '22021';

/** Whether a query failed on a value the database cannot hold as text (PostgreSQL refuses NUL; SQLite stores it). */
export function isUnstorableText(err: unknown): boolean {
  // drizzle wraps the driver's error in one whose cause it is.
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if ((e as { code?: unknown }).code === PG_UNSTORABLE_TEXT) return true;
  return false;
}
