import { readFileSync } from 'node:fs';
import path from 'node:path';
import { importHtpasswd } from '../identity/htpasswd';
import { parse } from './args';
import { CLI_ACTOR, initialiseIfEmpty, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

/** `wharf import-htpasswd FILE`: bcrypt users become Wharf users (source htpasswd); nothing is overwritten. */
export async function importHtpasswdCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError('missing htpasswd file (usage: wharf import-htpasswd FILE)');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (usage: wharf import-htpasswd FILE)`);
  const file = path.resolve(positionals[0]!);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new CommandError(`cannot read ${file}: ${why}`);
  }
  await withInstance(
    async (instance) => {
      await initialiseIfEmpty(instance, io);
      const report = await importHtpasswd(instance.deps.db, text, CLI_ACTOR);
      for (const u of report.imported) io.out(`imported ${u.username} (line ${u.line})`);
      for (const s of report.skipped) io.out(`skipped line ${s.line}${s.username ? ` (${s.username})` : ''}: ${s.reason}`);
      const reasons = new Map<string, number>();
      for (const s of report.skipped) {
        const key = s.reason.split(';')[0]!.replace(/ \(.*\)$/, '');
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
      }
      const why = [...reasons].map(([reason, n]) => `${n} ${reason}`).join(', ');
      io.out(`imported ${report.imported.length}, skipped ${report.skipped.length}${why ? ` (${why})` : ''}`);
      if (report.imported.length > 0)
        io.out('imported users keep their htpasswd passwords; each is rehashed with scrypt on its first successful login');
    },
    { mayInitialise: true },
  );
}
