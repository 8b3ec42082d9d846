import type { Db } from './open';
import { engineOf, isPgTransaction } from './engine';
import { pgSavepoint, pgTransaction } from './pg';
import { connectionOf, insideTransaction, type SqliteConnection } from './sqlite-connection';

function connection(db: Db): SqliteConnection {
  const c = (db as unknown as { [connectionOf]?: SqliteConnection })[connectionOf];
  if (!c) throw new Error('not a Wharf database handle');
  return c;
}

/** Whether `db` is a transaction's handle. */
export const inTransaction = (db: Db): boolean =>
  engineOf(db) === 'postgres' ? isPgTransaction(db) : (db as unknown as { [insideTransaction]?: boolean })[insideTransaction] === true;

/**
 * Runs `work` in one transaction: a new one on the database, or the caller's when `db` is
 * already a transaction (nested work joins it; its failure fails the whole).
 */
export function transaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (inTransaction(db)) return work(db);
  return engineOf(db) === 'postgres' ? pgTransaction(db, work) : connection(db).transaction(work);
}

/**
 * Runs `work` so that its failure undoes its own writes and nothing else: inside the caller's
 * transaction as a savepoint, or as a transaction of its own.
 */
export function isolated<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (engineOf(db) === 'postgres') return inTransaction(db) ? pgSavepoint(db, work) : pgTransaction(db, work);
  if (inTransaction(db)) return connection(db).savepoint(work);
  return connection(db).transaction(work);
}

/**
 * Whether the connection behind `db` is inside a transaction. SQLite ends one itself on some
 * failures; PostgreSQL keeps it open (a failed statement only spoils it until the savepoint's rollback).
 */
export const transactionOpen = (db: Db): boolean => (engineOf(db) === 'postgres' ? isPgTransaction(db) : connection(db).sqlite.inTransaction);
