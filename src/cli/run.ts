import { stdout, type Output } from './output';
import { UsageError } from './errors';
import { COMMANDS, USAGE } from './usage';

const oneLine = (message: string) => message.split('\n')[0]!.trim() || 'unknown error';

/**
 * Runs one `wharf` command. Resolves with the exit code, or with null for `serve`, which keeps
 * the process running. Errors become one line on stderr: usage and configuration errors exit 2,
 * everything else 1.
 */
export async function runCli(argv: string[], io: Output = stdout): Promise<number | null> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new UsageError(`missing command: wharf ${COMMANDS.join('|')} (see wharf --help)`);
    if (command === '--help' || command === '-h' || command === 'help' || rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    switch (command) {
      case 'serve':
        if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" (usage: wharf serve)`);
        await (await import('./serve')).serve();
        return null;
      case 'user':
        await (await import('./user')).userCommand(rest, io);
        return 0;
      case 'import-htpasswd':
        await (await import('./import-htpasswd')).importHtpasswdCommand(rest, io);
        return 0;
      case 'backup':
        await (await import('./backup')).backupCommand(rest, io);
        return 0;
      case 'restore':
        await (await import('./restore')).restoreCommand(rest, io);
        return 0;
      case 'migrate-db':
        await (await import('./migrate-db')).migrateDbCommand(rest, io);
        return 0;
      case 'signing-key':
        await (await import('./signing-key')).signingKeyCommand(rest, io);
        return 0;
      case 'notification-secret':
        await (await import('./notification-secret')).notificationSecretCommand(rest, io);
        return 0;
      case 'reconcile':
        await (await import('./reconcile')).reconcileCommand(rest, io);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}": wharf ${COMMANDS.join('|')} (see wharf --help)`);
    }
  } catch (err) {
    // ConfigError is loaded only when needed: usage errors stay as quick as --help.
    const configError =
      !(err instanceof UsageError) && (err instanceof (await import('../config/load')).ConfigError || err instanceof (await import('../db/pg')).DatabaseStartError);
    const code = err instanceof UsageError || configError ? 2 : 1;
    // UsageError, ConfigError, CommandError and AppError carry messages meant for the operator;
    // anything else (a file system or SQLite error) is shown as its first line.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`wharf: ${oneLine(message)}\n`);
    return code;
  }
}
