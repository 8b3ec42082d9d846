import { asc, count, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/open';
import type { Log } from '../log';
import { canonicalName } from './names';
import type { Deps } from '../deps';
import { users } from '../db/schema';
import { ensureProject } from '../access/projects';
import { createUser, RESERVED_USERNAMES } from './users';
import { randomSecret } from './passwords';
import { SYSTEM_ACTOR } from './principal';

/**
 * First start: the `admin` user (password from WHARF_ADMIN_PASSWORD, else a random one announced
 * once) and the default project. Later starts change nothing.
 */
export async function bootstrapInstance(deps: Pick<Deps, 'db' | 'config' | 'log'>, announce: (line: string) => void): Promise<void> {
  const { db, config, log } = deps;
  fillUsernameKeys(db, log);
  const existing = db.select({ n: count() }).from(users).get()!.n;
  if (existing === 0) {
    const given = config.admin.password;
    const password = given || randomSecret(18);
    await createUser(db, { username: 'admin', password, admin: true }, SYSTEM_ACTOR);
    if (given) log.info('created user admin with the password from WHARF_ADMIN_PASSWORD');
    else announce(`Wharf: created user "admin" with password ${password} (shown once; change it with PUT /api/v1/users/admin/password)`);
  }
  db.transaction((tx) => ensureProject(tx, config.defaultProject.name, config.defaultProject.public, SYSTEM_ACTOR));
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

/**
 * Gives every account made before names were unique case-insensitively its canonical key. Where
 * names differ only by case, the oldest account gets the key; the newer ones keep working under
 * their exact spelling (their key is made unreachable) and are named in a warning once.
 */
export function fillUsernameKeys(db: Db, log: Pick<Log, 'warn'>): void {
  const missing = db.select({ id: users.id, username: users.username }).from(users).where(isNull(users.usernameKey)).orderBy(asc(users.id)).all();
  if (missing.length === 0) return;
  const shadowed: string[] = [];
  db.transaction((tx) => {
    for (const u of missing) {
      const key = canonicalName(u.username);
      const taken = tx.select({ id: users.id }).from(users).where(eq(users.usernameKey, key)).get();
      // A control character never occurs in a name, so this key matches no login.
      const own = taken ? `${key}\u0000${u.id}` : key;
      if (taken) shadowed.push(u.username);
      tx.update(users).set({ usernameKey: own }).where(eq(users.id, u.id)).run();
    }
  });
  if (shadowed.length > 0)
    log.warn(
      { usernames: shadowed },
      'user names are now unique regardless of case: these accounts differ only by case from an older one and answer to their exact spelling only; no new such account can be made',
    );
}
