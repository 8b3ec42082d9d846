import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { contextFor, type Ctx } from '../context';
import type { Deps } from '../deps';
import { userCount } from '../identity/store';
import type { Actor, Principal } from '../identity/principal';
import { createLog, logLevelOf, type Log } from '../log';
import type { Instance } from '../server';
import { CommandError } from './errors';
import type { Output } from './output';

export type { Output } from './output';

/**
 * Who the CLI is in audit rows: `(cli)`, a name no user can have (usernames start with a letter
 * or digit), so a user named `cli` is managed like any other and never mistaken for the actor.
 */
export const CLI_ACTOR: Actor = { username: '(cli)' };
/** The CLI acts as a system administrator (it has the data directory in hand anyway); id 0 is no user's. */
export const CLI_PRINCIPAL: Principal = { kind: 'user', id: 0, username: CLI_ACTOR.username, admin: true, source: 'local', via: 'password' };

/** The service context of a CLI command. */
export const cliContext = (deps: Deps): Ctx => contextFor(deps, CLI_PRINCIPAL, CLI_ACTOR);

/**
 * CLI logs stay out of the way: silent unless WHARF_LOG_LEVEL is set, and then on stderr so that
 * stdout keeps only the command's result.
 */
export function cliLog(config: Config, env: NodeJS.ProcessEnv = process.env): Log {
  if (!env.WHARF_LOG_LEVEL) return createLog('silent');
  return createLog(logLevelOf(config), pino.destination(2));
}

/**
 * Runs `fn` with everything but the HTTP server (buildInstance), then closes it. Only commands that
 * may initialise a data directory (creating users) accept one without a database. The registry
 * configuration the running server wrote is kept as it was: buildInstance rewrites it from this
 * process's configuration, which may differ from the server's (another shell, other WHARF_*
 * variables), and the supervised registry reads it again whenever it restarts.
 */
export async function withInstance<T>(
  fn: (instance: Instance, config: Config) => Promise<T>,
  opts: { mayInitialise?: boolean } = {},
): Promise<T> {
  const config = loadConfig();
  // On PostgreSQL an empty database is found out by the query that needs its rows.
  if (!opts.mayInitialise && config.database.url === '' && !existsSync(path.join(config.dataDir, 'wharf.db')))
    throw new CommandError(`no Wharf database in ${config.dataDir} (WHARF_DATA_DIR); check the configuration or start Wharf once`);
  const registryConfigFile = path.join(config.dataDir, 'registry-config.yml');
  const before = existsSync(registryConfigFile) ? readFileSync(registryConfigFile) : null;
  // Loaded here, not at the top: the server module pulls in the whole HTTP app, which `--help`
  // and usage errors do not need.
  const [{ buildInstance }, { writeSecretFile }] = await Promise.all([import('../server'), import('../token/keys')]);
  const instance = await buildInstance(config, { log: cliLog(config) });
  try {
    if (before && !readFileSync(registryConfigFile).equals(before)) writeSecretFile(registryConfigFile, before);
    return await fn(instance, config);
  } finally {
    await instance.close();
  }
}

/**
 * Before the CLI adds the first user to an empty data directory, it initialises the instance as
 * the first `wharf serve` would (the `admin` user, password from WHARF_ADMIN_PASSWORD or generated
 * and printed once, and the default project): the server creates `admin` only while the users
 * table is empty, so without this an imported or created user would leave the instance without
 * its administrator.
 */
export async function initialiseIfEmpty(instance: Instance, io: Output, opts: { creating?: string } = {}): Promise<void> {
  const { db, config } = instance.deps;
  if ((await userCount(db)) > 0) return;
  if (opts.creating === 'admin') return; // the operator is creating admin themselves
  const { bootstrapInstance } = await import('../bootstrap');
  await bootstrapInstance(instance.deps, (line) => io.out(line));
  if (config.admin.password) io.out('initialised the data directory: created user "admin" with the password from WHARF_ADMIN_PASSWORD');
}
