import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packageFile } from '../package-files';
import * as schema from './schema';

/** `$client` is the better-sqlite3 connection, for what drizzle does not expose (is a transaction open). */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };
/** The database handle or a transaction on it: services accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0] | Db;

export interface OpenDb {
  db: Db;
  sqlite: Database.Database;
  close(): void;
}

const migrationsFolder = packageFile('drizzle', 'sqlite');

/**
 * Opens (creating if needed, 0600) the SQLite database in WAL mode and applies the committed
 * migrations. SQLite gives the -wal and -shm files it creates the database file's mode.
 */
export function openDatabase(file: string): OpenDb {
  if (file !== ':memory:') {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      closeSync(openSync(file, 'wx', 0o600));
      chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  // Transactions take the write lock when they begin: a deferred one that read first would fail
  // with SQLITE_BUSY_SNAPSHOT if another process (the CLI) committed in between.
  const deferred = db.transaction.bind(db);
  db.transaction = ((fn, config) => deferred(fn, { behavior: 'immediate', ...config })) as Db['transaction'];
  migrate(db, { migrationsFolder });
  return { db, sqlite, close: () => sqlite.close() };
}
