import { count } from 'drizzle-orm';
import type { Deps } from '../deps';
import { users } from '../db/schema';
import { ensureProject } from '../access/projects';
import { createUser } from './users';
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
}
