import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/schema';
import type { Log } from './log';

export const DATABASE_FILE = 'wharf.db';
export const REGISTRY_PID_FILE = 'registry.pid';

/** Files of the data directory only Wharf's user may read: the database (every password hash), keys, secrets. */
const PRIVATE_FILES = [
  DATABASE_FILE,
  `${DATABASE_FILE}-wal`,
  `${DATABASE_FILE}-shm`,
  `${DATABASE_FILE}-journal`,
  'wharf.dump',
  'token-signing.key',
  'token-signing.crt',
  'token-signing.next.key',
  'token-signing.next.crt',
  'token-signing.previous.crt',
  'token-bundle.crt',
  'notification-secret',
  'notification-secret.next',
  'registry-http-secret',
  'replication.key',
  'registry-config.yml',
  REGISTRY_PID_FILE,
];

interface Tightening {
  loosened: string[];
  failed: string[];
}

/** Sets `wanted` on an existing file; notes it when group or others could get in before. */
function tighten(file: string, wanted: number, label: string, seen: Tightening): void {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return;
  }
  if (mode === wanted) return;
  try {
    chmodSync(file, wanted);
    if (mode & 0o077) seen.loosened.push(`${label} was ${mode.toString(8)}`);
  } catch (err) {
    seen.failed.push(`${label}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Creates the data directory owner-only (0700) and tightens an existing one, its private files
 * (0600) and the supervised registry's storage (0700), whatever the umask. Says so in one log
 * line when something was loosened.
 */
export function secureDataDir(config: Config, log: Log): void {
  const seen: Tightening = { loosened: [], failed: [] };
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  tighten(config.dataDir, 0o700, config.dataDir, seen);
  for (const name of PRIVATE_FILES) tighten(path.join(config.dataDir, name), 0o600, name, seen);
  // A registry run by the operator keeps the storage modes the operator chose.
  if (config.registry.manage !== 'false') tighten(config.registry.storage, 0o700, config.registry.storage, seen);
  if (seen.loosened.length) log.warn({ tightened: seen.loosened }, 'data directory was open to other users; tightened to owner only');
  if (seen.failed.length) log.warn({ failed: seen.failed }, 'could not tighten permissions in the data directory');
}

/** Creates the supervised registry's storage owner-only before the registry would create it with its own umask. */
export function createRegistryStorage(config: Config): void {
  const created = mkdirSync(config.registry.storage, { recursive: true, mode: 0o700 });
  if (created) chmodSync(config.registry.storage, 0o700);
}
