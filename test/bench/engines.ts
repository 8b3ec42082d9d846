import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/config/load';
import { openConfiguredDatabase } from '../../src/db/connect';
import type { OpenDb } from '../../src/db/open';
import { startPostgres } from '../support/postgres';

/**
 * Runs an in-process bench on a migrated SQLite database in a throw-away data directory, then (with
 * `postgres`) on a database of a throw-away PostgreSQL server; each is closed and removed after.
 */
export async function onEachEngine<T>(name: string, postgres: boolean, run: (engine: 'SQLite' | 'PostgreSQL', db: OpenDb) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `wharf-bench-${name}-`));
  try {
    const sqlite = await openConfiguredDatabase(resolveConfig({ dataDir, database: { url: '' } }));
    try {
      results.push(await run('SQLite', sqlite));
    } finally {
      await sqlite.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  if (postgres) {
    const server = await startPostgres();
    try {
      const pg = await openConfiguredDatabase(resolveConfig({ database: { url: await server.createDatabase(`bench_${name}`) } }));
      try {
        results.push(await run('PostgreSQL', pg));
      } finally {
        await pg.close();
      }
    } finally {
      await server.stop();
    }
  }
  return results;
}
