import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';

/**
 * Until the services run on PostgreSQL, a postgres:// database.url stops the start (exit 2)
 * instead of Wharf quietly using SQLite in dataDir.
 */
export function refuseUnfinishedPostgres(config: Config): void {
  if (config.database.url === '') return;
  throw new ConfigError(
    `database.url names a PostgreSQL database, and PostgreSQL support is not complete yet; leave database.url (WHARF_DATABASE_URL) empty to use SQLite in ${config.dataDir}`,
  );
}
