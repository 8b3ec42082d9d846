import { ConfigError, loadConfig } from './config/load';
import { createLog } from './log';
import { startWharf } from './server';

/** The only entry: config, database, HTTP server, the supervised registry; stops cleanly on signals. */
async function main(): Promise<void> {
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
  const log = createLog(config.logLevel);
  let wharf;
  try {
    wharf = await startWharf(config, { log });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'wharf failed to start');
    process.stderr.write(`wharf: ${(err as Error).message}\n`);
    process.exit(1);
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
}

await main();
