import { existsSync } from 'node:fs';
import path from 'node:path';
import { recordAudit } from '../audit/record';
import { loadConfig } from '../config/load';
import { backupDataDir, type BackupReport } from '../db/backup';
import { parse } from './args';
import { CLI_ACTOR, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

const kib = (bytes: number) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** What the backup of the database is, on one line. */
function databaseLine(report: BackupReport): string {
  const d = report.database;
  const name = path.basename(d.file);
  if (report.engine === 'sqlite') return `  ${name} (${kib(d.bytes)}, consistent snapshot)`;
  return `  ${name} (${kib(d.bytes)}, consistent snapshot: pg_dump custom format, ${d.entries} entries, pg_dump ${d.pgDump!.version} of PostgreSQL ${d.serverVersion})`;
}

/** `wharf backup DIR`: online backup of the database, signing key and secrets. */
export async function backupCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError('missing target directory (usage: wharf backup DIR)');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (usage: wharf backup DIR)`);
  const planned = loadConfig();
  // On PostgreSQL starting an instance on a data directory without secrets would make new ones: a backup of keys nobody uses.
  if (planned.database.url !== '' && !existsSync(path.join(planned.dataDir, 'notification-secret')))
    throw new CommandError(`no Wharf secrets in ${planned.dataDir} (WHARF_DATA_DIR); run wharf backup with the data directory of an instance`);
  await withInstance(async ({ deps, database }, config) => {
    const report = await backupDataDir(database, { dataDir: config.dataDir, targetDir: positionals[0]!, database: config.database });
    const files = [report.database.file, ...report.copied];
    await recordAudit(deps.db, {
      username: CLI_ACTOR.username,
      action: 'backup',
      resourceType: 'system',
      resource: report.dir,
      detail: JSON.stringify({ engine: report.engine, bytes: report.database.bytes, durationMs: report.durationMs, files, missing: report.missing }),
    });
    io.out(`backed up ${config.dataDir} to ${report.dir} in ${report.durationMs} ms`);
    io.out(databaseLine(report));
    for (const name of report.copied) io.out(`  ${name} (mode 0600)`);
    if (report.missing.length > 0) io.out(`  not in the data directory, not copied: ${report.missing.join(', ')}`);
    if (config.token.keyFile) io.out(`  the signing key is configured outside the data directory (${config.token.keyFile}); keep it with the backup`);
    if (report.engine === 'sqlite') io.out(`restore: stop Wharf, then start it with WHARF_DATA_DIR=${report.dir} (or copy these files into an empty data directory)`);
    else
      io.out(
        `restore: create an empty database, run WHARF_DATABASE_URL=<its URL> wharf restore ${report.dir}, then start Wharf with ` +
          `WHARF_DATA_DIR=${report.dir} (or copy these files into an empty data directory) and that WHARF_DATABASE_URL`,
      );
    io.out(
      `note: the registry's blob storage (${config.registry.storage}) is NOT part of this backup; back it up separately ` +
        '(after this backup); on start Wharf reconciles its tag state with what the storage holds',
    );
  });
}
