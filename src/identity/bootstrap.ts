import { count, inArray, sql } from 'drizzle-orm';
import type { Deps } from '../deps';
import { users } from '../db/schema';
import { ensureProject } from '../access/projects';
import { createUser, RESERVED_USERNAMES } from './users';
import { randomSecret } from './passwords';

const system = { username: 'system' };

/**
 * First start: the `admin` user (password from WHARF_ADMIN_PASSWORD, else a random one announced
 * once) and the default project. Later starts change nothing.
 */
export async function bootstrapInstance(deps: Pick<Deps, 'db' | 'config' | 'log'>, announce: (line: string) => void): Promise<void> {
  const { db, config, log } = deps;
  const existing = db.select({ n: count() }).from(users).get()!.n;
  if (existing === 0) {
    const given = config.admin.password;
    const password = given || randomSecret(18);
    await createUser(db, { username: 'admin', password, admin: true }, system);
    if (given) log.info('created user admin with the password from WHARF_ADMIN_PASSWORD');
    else announce(`Wharf: created user "admin" with password ${password} (shown once; change it with PUT /api/v1/users/admin/password)`);
  }
  db.transaction((tx) => ensureProject(tx, config.defaultProject.name, config.defaultProject.public, system));
  // Accounts made before these names were reserved keep working, but the audit log cannot tell
  // their rows from those of anonymous callers or of Wharf itself.
  const reserved = db
    .select({ username: users.username })
    .from(users)
    .where(inArray(sql`lower(${users.username})`, [...RESERVED_USERNAMES]))
    .all();
  for (const u of reserved)
    log.warn({ username: u.username }, 'a user has a name the audit log reserves for non-users; rename the account (create a new one and delete this one)');
}
