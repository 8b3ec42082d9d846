import type { Db } from './open';
import { connectionOf, insideTransaction, type SqliteConnection } from './sqlite-connection';

function connection(db: Db): SqliteConnection {
  const c = (db as unknown as { [connectionOf]?: SqliteConnection })[connectionOf];
  if (!c) throw new Error('not a Wharf database handle');
  return c;
}

const inside = (db: Db) => (db as unknown as { [insideTransaction]?: boolean })[insideTransaction] === true;

/**
 * Runs `work` in one transaction: a new one on the database, or the caller's when `db` is
 * already a transaction (nested work joins it; its failure fails the whole).
 */
export function transaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (inside(db)) return work(db);
  return connection(db).transaction(work);
}

/**
 * Runs `work` so that its failure undoes its own writes and nothing else: inside the caller's
 * transaction as a savepoint, or as a transaction of its own.
 */
export function isolated<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (inside(db)) return connection(db).savepoint(work);
  return connection(db).transaction(work);
}

/** Whether `db` is a transaction's handle. */
export const inTransaction = inside;

/** Whether the connection behind `db` is inside a transaction (SQLite ends one itself on some failures). */
export const transactionOpen = (db: Db): boolean => connection(db).sqlite.inTransaction;
