import { chmodSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../errors';

/** Files of the data directory a restore needs besides the database (all 0600). */
export const BACKUP_SECRET_FILES = ['token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret'] as const;

export const BACKUP_DATABASE_FILE = 'wharf.db';

export interface BackupReport {
  dir: string;
  database: { file: string; bytes: number; pages: number };
  /** Secret files copied (0600). */
  copied: string[];
  /** Secret files the data directory did not hold (e.g. an operator-supplied signing key). */
  missing: string[];
  durationMs: number;
}

const refuse = (message: string) => new AppError(409, 'conflict', message);

/**
 * An online backup of a data directory into `targetDir`: the SQLite database through SQLite's
 * backup API (a consistent snapshot taken on the open connection, safe while Wharf runs and
 * writes), plus copies of the signing key, its certificate and the instance secrets, so that
 * pointing WHARF_DATA_DIR at `targetDir` restores the instance. Nothing in `targetDir` is ever
 * overwritten; `wharf.db` appears last, so its presence marks a complete backup.
 */
export async function backupDataDir(sqlite: Database.Database, opts: { dataDir: string; targetDir: string }): Promise<BackupReport> {
  const started = Date.now();
  const dataDir = path.resolve(opts.dataDir);
  const dir = path.resolve(opts.targetDir);
  if (dir === dataDir) throw refuse(`${dir} is the data directory itself; back up into another directory`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw refuse(`${dir} exists and is not a directory`);
  for (const name of [BACKUP_DATABASE_FILE, `${BACKUP_DATABASE_FILE}-wal`, ...BACKUP_SECRET_FILES]) {
    if (existsSync(path.join(dir, name)))
      throw refuse(`${dir} already holds ${name}; back up into a new or empty directory`);
  }

  const createdDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  const partial = path.join(dir, `.${BACKUP_DATABASE_FILE}.partial-${process.pid}`);
  try {
    const copied: string[] = [];
    const missing: string[] = [];
    for (const name of BACKUP_SECRET_FILES) {
      const from = path.join(dataDir, name);
      if (!existsSync(from)) {
        missing.push(name);
        continue;
      }
      const to = path.join(dir, name);
      copyFileSync(from, to, constants.COPYFILE_EXCL);
      created.push(to);
      chmodSync(to, 0o600);
      copied.push(name);
    }

    created.push(partial);
    // All pages in one step: one read transaction, so the copy is a snapshot even while another
    // process writes (a step-wise copy would restart on every foreign write).
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
    const final = path.join(dir, BACKUP_DATABASE_FILE);
    linkSync(partial, final); // fails rather than overwrite a wharf.db that appeared meanwhile
    created.push(final);
    unlinkSync(partial);
    return {
      dir,
      database: { file: final, bytes: statSync(final).size, pages: progress.totalPages },
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
