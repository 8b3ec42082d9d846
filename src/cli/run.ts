import { stdout, type Output } from './output';
import { UsageError } from './errors';
import { COMMANDS, USAGE } from './usage';

type CommandRunner = (args: string[], io: Output) => Promise<void>;

/** Every command but `serve`, each loaded only when it runs, so `wharf --help` stays quick. */
const COMMAND_RUNNERS: Record<Exclude<(typeof COMMANDS)[number], 'serve'>, () => Promise<CommandRunner>> = {
  user: async () => (await import('./user')).userCommand,
  'import-htpasswd': async () => (await import('./import-htpasswd')).importHtpasswdCommand,
  backup: async () => (await import('./backup')).backupCommand,
  restore: async () => (await import('./restore')).restoreCommand,
  'migrate-db': async () => (await import('./migrate-db')).migrateDbCommand,
  'signing-key': async () => (await import('./signing-key')).signingKeyCommand,
  'notification-secret': async () => (await import('./notification-secret')).notificationSecretCommand,
  reconcile: async () => (await import('./reconcile')).reconcileCommand,
  gc: async () => (await import('./gc')).gcCommand,
};

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
      default: {
        if (!Object.hasOwn(COMMAND_RUNNERS, command)) throw new UsageError(`unknown command "${command}": wharf ${COMMANDS.join('|')} (see wharf --help)`);
        await (await COMMAND_RUNNERS[command as keyof typeof COMMAND_RUNNERS]())(rest, io);
        return 0;
      }
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
