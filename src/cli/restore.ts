import { existsSync } from 'node:fs';
import path from 'node:path';
import { recordAudit } from '../audit/record';
import { loadConfig } from '../config/load';
import { BACKUP_DUMP_FILE, BACKUP_SECRET_FILES } from '../db/backup';
import { parse } from './args';
import { CLI_ACTOR } from './context';
import { CommandError, UsageError } from './errors';
import type { Output } from './output';

const USAGE = 'usage: wharf restore DIR';

/**
 * `wharf restore DIR`: loads the PostgreSQL dump of a `wharf backup` into the empty database of
 * database.url. The data directory is left alone: the backup directory holds the keys and
 * secrets the restored instance starts with.
 */
export async function restoreCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError(`missing backup directory (${USAGE})`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (${USAGE})`);
  const dir = path.resolve(positionals[0]!);
  const config = loadConfig();
  if (config.database.url === '')
    throw new CommandError(`wharf restore loads a PostgreSQL backup into database.url; on SQLite, stop Wharf and start it with WHARF_DATA_DIR=${dir}`);
  const dump = path.join(dir, BACKUP_DUMP_FILE);
  if (!existsSync(dump)) throw new CommandError(`${dir} holds no ${BACKUP_DUMP_FILE} (the PostgreSQL backup wharf backup writes)`);
  const [{ restorePostgres, PgToolError }, { openConfiguredDatabase }, { redactDatabaseUrl }] = await Promise.all([
    import('../db/pg-dump'),
    import('../db/connect'),
    import('../db/database-url'),
  ]);
  const started = Date.now();
  try {
    await restorePostgres(config.database, dump);
  } catch (err) {
    if (err instanceof PgToolError) throw new CommandError(err.message);
    throw err;
  }
  const durationMs = Date.now() - started;
  // Opening applies the migrations of this version that the backup's version did not have.
  const restored = await openConfiguredDatabase(config);
  try {
    await recordAudit(restored.db, {
      username: CLI_ACTOR.username,
      action: 'restore',
      resourceType: 'system',
      resource: dir,
      detail: JSON.stringify({ file: dump, durationMs }),
    });
  } finally {
    await restored.close();
  }
  const target = redactDatabaseUrl(config.database.url);
  io.out(`restored ${dump} into ${target} in ${durationMs} ms`);
  const missing = BACKUP_SECRET_FILES.filter((name) => !existsSync(path.join(dir, name)));
  if (missing.length > 0) io.out(`  not in the backup: ${missing.join(', ')} (Wharf makes new ones on start unless you supply them)`);
  io.out(`next: start Wharf with WHARF_DATA_DIR=${dir} (or copy its files into an empty data directory) and database.url set to ${target}`);
}
