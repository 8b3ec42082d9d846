import { ConfigError, loadConfig } from '../config/load';
import { createLog, logLevelOf } from '../log';
import { DatabaseStartError } from '../db/pg';
import { startWharf } from '../server';

/**
 * `wharf serve`: what `npm start` (src/main.ts) does: config, database, HTTP server, the
 * supervised registry; stops cleanly on SIGINT/SIGTERM and reads rotated keys again on SIGHUP. A configuration error or a database that
 * cannot be used is one line and exit code 2; any other failed start is one line and exit code 1.
 */
export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wharf: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLog(logLevelOf(config));
  let wharf;
  try {
    wharf = await startWharf(config, { log });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'wharf failed to start');
    process.stderr.write(`wharf: ${(err as Error).message}\n`);
    process.exit(err instanceof DatabaseStartError ? 2 : 1);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await wharf.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // The operator's way to apply rotated keys at once instead of at the next poll.
  process.on('SIGHUP', () => void wharf.rotation.reload());
}
