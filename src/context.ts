import type { Clock } from './clock';
import type { Config } from './config/schema';
import type { Db } from './db/open';
import type { Deps } from './deps';
import type { Actor, Principal } from './identity/principal';
import type { Log } from './log';

/**
 * What a service call runs with, built once per request (or per job) and passed first: the
 * database handle (a transaction's, inside one), the caller and how to name them in audit rows,
 * and the instance's parts for what a service needs beyond them.
 */
export interface Ctx {
  db: Db;
  clock: Clock;
  config: Config;
  log: Log;
  principal: Principal;
  actor: Actor;
  deps: Deps;
}

export const contextFor = (deps: Deps, principal: Principal, actor: Actor): Ctx => ({
  db: deps.db,
  clock: deps.clock,
  config: deps.config,
  log: deps.log,
  principal,
  actor,
  deps,
});
