import { ping } from './db/engine';
import type { Deps } from './deps';

export interface Health {
  /** degraded: only the directory is unreachable; unhealthy: the database or the registry is. */
  status: 'healthy' | 'degraded' | 'unhealthy';
  database: 'ok' | 'error';
  registry: 'ok' | 'unreachable';
  ldap: 'ok' | 'degraded' | 'disabled';
  /** leader: this instance runs the schedulers (one instance on the database does); standby: another does, or none here. */
  scheduler: 'leader' | 'standby';
}

/** Wharf's parts as the health endpoint and the system page report them; a failing probe counts as down. */
export async function checkHealth(deps: Pick<Deps, 'db' | 'registryHealth' | 'directory' | 'leadership'>): Promise<Health> {
  const { db, registryHealth, directory } = deps;
  let database: Health['database'] = 'ok';
  try {
    await ping(db);
  } catch {
    database = 'error';
  }
  const [registryUp, ldapUp] = await Promise.all([registryHealth().catch(() => false), directory.ping().catch(() => false)]);
  const registry = registryUp ? 'ok' : 'unreachable';
  const ldap = !directory.enabled ? 'disabled' : ldapUp ? 'ok' : 'degraded';
  const healthy = database === 'ok' && registry === 'ok';
  const scheduler = deps.leadership.leading ? 'leader' : 'standby';
  return { status: !healthy ? 'unhealthy' : ldap === 'degraded' ? 'degraded' : 'healthy', database, registry, ldap, scheduler };
}
