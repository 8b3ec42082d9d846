import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle as syncDrizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { drizzle } from 'drizzle-orm/sqlite-proxy';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { packageFile } from '../package-files';
import * as schema from './schema';
import { SqliteConnection } from './sqlite-connection';

/** What a statement run for its effect reports (`.run()`). */
export interface RunResult {
  changes: number;
}

/**
 * The handle services and stores query through: the database, or the transaction they run in.
 * Every query is awaited; the same code will run on PostgreSQL, where nothing is synchronous.
 */
export type Db = BaseSQLiteDatabase<'async', RunResult, typeof schema>;
/** A handle that may be a transaction: nested work joins it (see `transaction`). */
export type Tx = Db;

export interface OpenDb {
  db: Db;
  engine: 'sqlite' | 'postgres';
  /** The better-sqlite3 connection (backups, file-level checks); null on PostgreSQL. */
  sqlite: Database.Database | null;
  close(): Promise<void>;
}

export interface OpenSqlite extends OpenDb {
  sqlite: Database.Database;
}

const migrationsFolder = packageFile('drizzle', 'sqlite');

/**
 * Opens (creating if needed, 0600) the SQLite database in WAL mode and applies the committed
 * migrations. SQLite gives the -wal and -shm files it creates the database file's mode.
 */
export function openDatabase(file: string): OpenSqlite {
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
  migrate(syncDrizzle(sqlite), { migrationsFolder });
  const connection = new SqliteConnection(sqlite);
  const db = connection.attach(drizzle(connection.outside, { schema }) as unknown as Db, drizzle(connection.inside, { schema }) as unknown as Db);
  const close = async () => {
    sqlite.close();
  };
  return { db, engine: 'sqlite', sqlite, close };
}
