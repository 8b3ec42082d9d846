import path from 'node:path';
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load';
import { openDatabase } from '../db/open';
import { parse } from './args';
import { CommandError, UsageError } from './errors';
import type { Output } from './output';

const USAGE = 'usage: wharf migrate-db --to postgres://USER:PASSWORD@HOST:PORT/DATABASE';

/**
 * `wharf migrate-db --to URL`: copies the SQLite data directory's database (users and their
 * hashes, projects, members, robots, tokens, tag state, audit) into an empty PostgreSQL database,
 * then checks the row counts. Stop Wharf first; the signing key and secrets stay in the data
 * directory, which the PostgreSQL instances share or copy.
 */
export async function migrateDbCommand(args: string[], io: Output): Promise<void> {
  const { values, positionals } = parse(args, { to: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (${USAGE})`);
  if (!values.to) throw new UsageError(`missing --to (${USAGE})`);
  const config = loadConfig();
  const file = path.join(config.dataDir, 'wharf.db');
  if (!existsSync(file)) throw new CommandError(`no Wharf database in ${config.dataDir} (WHARF_DATA_DIR) to copy`);
  const [{ openPostgres, DatabaseStartError }, { copyToPostgres, TargetNotEmptyError }, { databaseUrlProblem, redactDatabaseUrl }] = await Promise.all([
    import('../db/pg'),
    import('../db/copy-to-postgres'),
    import('../db/database-url'),
  ]);
  const problem = databaseUrlProblem(values.to);
  if (problem) throw new UsageError(`--to: ${problem}`);
  let target;
  try {
    target = await openPostgres({ ...config.database, url: values.to });
  } catch (err) {
    if (err instanceof DatabaseStartError) throw new CommandError(err.message);
    throw err;
  }
  const source = openDatabase(file);
  try {
    const started = Date.now();
    const copied = await copyToPostgres(source, target);
    const total = copied.reduce((n, t) => n + t.rows, 0);
    io.out(`copied ${total} rows from ${file} to ${redactDatabaseUrl(values.to)} in ${Date.now() - started} ms; every table's row count matches`);
    for (const t of copied) io.out(`  ${t.table}: ${t.rows}`);
    io.out('next: give every instance the same data directory files (signing key, secrets) and set database.url (WHARF_DATABASE_URL) to this database');
  } catch (err) {
    if (err instanceof TargetNotEmptyError) throw new CommandError(err.message);
    throw err;
  } finally {
    await source.close();
    await target.close();
  }
}
