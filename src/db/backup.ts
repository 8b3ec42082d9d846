import { chmodSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config/schema';
import { AppError } from '../errors';
import type { OpenDb } from './open';
import type { PgDb } from './pg';

/** Files of the data directory a restore needs besides the database (all 0600). */
export const BACKUP_SECRET_FILES = ['token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret', 'replication.key'] as const;
/** A rotation under way (README: Rotating keys): copied when present, so a restore can finish it; absent is normal. */
export const BACKUP_ROTATION_FILES = ['token-signing.next.key', 'token-signing.next.crt', 'token-signing.previous.crt', 'notification-secret.next'] as const;

export const BACKUP_DATABASE_FILE = 'wharf.db';
/** The PostgreSQL database as pg_dump's custom format (pg_restore reads it). */
export const BACKUP_DUMP_FILE = 'wharf.dump';

export interface BackupReport {
  dir: string;
  engine: OpenDb['engine'];
  database: {
    file: string;
    bytes: number;
    /** SQLite: pages copied. */
    pages?: number;
    /** PostgreSQL: entries of the dump, the pg_dump that wrote it and the server's version. */
    entries?: number;
    pgDump?: { file: string; version: string };
    serverVersion?: string;
  };
  /** Secret files copied (0600). */
  copied: string[];
  /** Secret files the data directory did not hold (e.g. an operator-supplied signing key). */
  missing: string[];
  durationMs: number;
}

const refuse = (message: string) => new AppError(409, 'conflict', message);

/** SQLite: all pages in one step, then checked and made self-contained. */
async function copySqlite(sqlite: Database.Database, partial: string): Promise<Partial<BackupReport['database']>> {
  // One read transaction, so the copy is a snapshot even while another process writes (a
  // step-wise copy would restart on every foreign write).
  const progress = await sqlite.backup(partial, { progress: () => 0x7fffffff });
  chmodSync(partial, 0o600);
  const check = new Database(partial, { fileMustExist: true });
  try {
    const result = check.pragma('integrity_check', { simple: true });
    if (result !== 'ok') throw new Error(`the backup copy failed its integrity check: ${String(result)}`);
    // A self-contained file: no -wal or -shm beside it once closed.
    check.pragma('journal_mode = DELETE');
  } finally {
    check.close();
  }
  return { pages: progress.totalPages };
}

/**
 * An online backup of an instance into `targetDir`: the database as a consistent snapshot taken
 * while Wharf runs and writes (SQLite's backup API on the open connection as `wharf.db`, or
 * pg_dump's one-transaction dump as `wharf.dump`), plus copies of the signing key, its
 * certificate and the instance secrets, so that `targetDir` is the data directory of a restored
 * instance. Nothing in `targetDir` is ever overwritten; the database file appears last, so its
 * presence marks a complete backup.
 */
export async function backupDataDir(
  database: OpenDb,
  opts: { dataDir: string; targetDir: string; database: Config['database'] },
): Promise<BackupReport> {
  const started = Date.now();
  const dataDir = path.resolve(opts.dataDir);
  const dir = path.resolve(opts.targetDir);
  if (dir === dataDir) throw refuse(`${dir} is the data directory itself; back up into another directory`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw refuse(`${dir} exists and is not a directory`);
  for (const name of [BACKUP_DATABASE_FILE, `${BACKUP_DATABASE_FILE}-wal`, BACKUP_DUMP_FILE, ...BACKUP_SECRET_FILES, ...BACKUP_ROTATION_FILES]) {
    if (existsSync(path.join(dir, name)))
      throw refuse(`${dir} already holds ${name}; back up into a new or empty directory`);
  }

  const finalName = database.sqlite ? BACKUP_DATABASE_FILE : BACKUP_DUMP_FILE;
  const createdDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  const partial = path.join(dir, `.${finalName}.partial-${process.pid}`);
  try {
    const copied: string[] = [];
    const missing: string[] = [];
    for (const name of [...BACKUP_SECRET_FILES, ...BACKUP_ROTATION_FILES]) {
      const from = path.join(dataDir, name);
      if (!existsSync(from)) {
        if ((BACKUP_SECRET_FILES as readonly string[]).includes(name)) missing.push(name);
        continue;
      }
      const to = path.join(dir, name);
      copyFileSync(from, to, constants.COPYFILE_EXCL);
      created.push(to);
      chmodSync(to, 0o600);
      copied.push(name);
    }

    created.push(partial);
    let written: Partial<BackupReport['database']>;
    if (database.sqlite) written = await copySqlite(database.sqlite, partial);
    else {
      const { dumpPostgres } = await import('./pg-dump');
      written = await dumpPostgres((database.db as unknown as PgDb).$client, opts.database, partial);
    }
    const final = path.join(dir, finalName);
    linkSync(partial, final); // fails rather than overwrite a database file that appeared meanwhile
    created.push(final);
    unlinkSync(partial);
    return {
      dir,
      engine: database.engine,
      database: { ...written, file: final, bytes: statSync(final).size },
      copied,
      missing,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    for (const file of created) rmSync(file, { force: true });
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(partial + suffix, { force: true });
    if (createdDir && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
