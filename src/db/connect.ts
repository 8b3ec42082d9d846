import path from 'node:path';
import type { Config } from '../config/schema';
import { DATABASE_FILE } from '../data-dir';
import type { Log } from '../log';
import { openDatabase, type Db, type OpenDb } from './open';
import { openPostgres } from './pg';

/**
 * Opens the database the configuration names: PostgreSQL when database.url is set (a
 * DatabaseStartError when it cannot be used), else SQLite in the data directory.
 */
export async function openConfiguredDatabase(config: Config, log?: Log): Promise<OpenDb> {
  if (config.database.url === '') return openDatabase(path.join(config.dataDir, DATABASE_FILE));
  const pg = await openPostgres(config.database, { log });
  return { db: pg.db as unknown as Db, engine: 'postgres', sqlite: null, close: pg.close };
}
