import { recordAudit } from '../audit/record';
import { backupDataDir } from '../db/backup';
import { parse } from './args';
import { CLI_ACTOR, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

const kib = (bytes: number) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** `wharf backup DIR`: online backup of the database, signing key and secrets. */
export async function backupCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError('missing target directory (usage: wharf backup DIR)');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (usage: wharf backup DIR)`);
  await withInstance(async ({ deps, database }, config) => {
    if (!database.sqlite)
      throw new CommandError('wharf backup copies a SQLite data directory; on PostgreSQL, back up the database with pg_dump and copy the data directory\'s keys and secrets');
    const report = await backupDataDir(database.sqlite, { dataDir: config.dataDir, targetDir: positionals[0]! });
    await recordAudit(deps.db, {
      username: CLI_ACTOR.username,
      action: 'backup',
      resourceType: 'system',
      resource: report.dir,
      detail: JSON.stringify({ bytes: report.database.bytes, files: [report.database.file, ...report.copied], missing: report.missing }),
    });
    io.out(`backed up ${config.dataDir} to ${report.dir} in ${report.durationMs} ms`);
    io.out(`  wharf.db (${kib(report.database.bytes)}, consistent snapshot)`);
    for (const name of report.copied) io.out(`  ${name} (mode 0600)`);
    if (report.missing.length > 0) io.out(`  not in the data directory, not copied: ${report.missing.join(', ')}`);
    if (config.token.keyFile) io.out(`  the signing key is configured outside the data directory (${config.token.keyFile}); keep it with the backup`);
    io.out(`restore: stop Wharf, then start it with WHARF_DATA_DIR=${report.dir} (or copy these files into an empty data directory)`);
    io.out(
      `note: the registry's blob storage (${config.registry.storage}) is NOT part of this backup; back it up separately ` +
        '(after this backup); on start Wharf reconciles its tag state with what the storage holds',
    );
  });
}
