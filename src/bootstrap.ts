import { transaction } from './db/transaction';
import type { Db } from './db/open';
import type { Log } from './log';
import { canonicalName } from './identity/names';
import type { Deps } from './deps';
import { changeUser, userCount, userKeyed, usersNamedAnyCase, usersWithoutKey } from './identity/store';
import { ensureProject } from './access/projects';
import { createUser, RESERVED_USERNAMES } from './identity/users';
import { randomSecret } from './identity/passwords';
import { SYSTEM_ACTOR } from './identity/principal';

/**
 * First start: the `admin` user (password from WHARF_ADMIN_PASSWORD, else a random one announced
 * once) and the default project. Later starts change nothing.
 */
export async function bootstrapInstance(deps: Pick<Deps, 'db' | 'config' | 'log'>, announce: (line: string) => void): Promise<void> {
  const { db, config, log } = deps;
  await fillUsernameKeys(db, log);
  const existing = await userCount(db);
  if (existing === 0) {
    const given = config.admin.password;
    const password = given || randomSecret(18);
    await createUser({ db, actor: SYSTEM_ACTOR }, { username: 'admin', password, admin: true });
    if (given) log.info('created user admin with the password from WHARF_ADMIN_PASSWORD');
    else announce(`Wharf: created user "admin" with password ${password} (shown once; change it with PUT /api/v1/users/admin/password)`);
  }
  await transaction(db, async (tx) => ensureProject(tx, config.defaultProject.name, config.defaultProject.public, SYSTEM_ACTOR));
  // Accounts made before these names were reserved keep working, but the audit log cannot tell
  // their rows from those of anonymous callers or of Wharf itself.
  const reserved = await usersNamedAnyCase(db, [...RESERVED_USERNAMES]);
  for (const u of reserved)
    log.warn({ username: u.username }, 'a user has a name the audit log reserves for non-users; rename the account (create a new one and delete this one)');
}

/**
 * Gives every account made before names were unique case-insensitively its canonical key. Where
 * names differ only by case, the oldest account gets the key; the newer ones keep working under
 * their exact spelling (their key is made unreachable) and are named in a warning once.
 */
export async function fillUsernameKeys(db: Db, log: Pick<Log, 'warn'>): Promise<void> {
  const missing = await usersWithoutKey(db);
  if (missing.length === 0) return;
  const shadowed: string[] = [];
  await transaction(db, async (tx) => {
    for (const u of missing) {
      const key = canonicalName(u.username);
      const taken = await userKeyed(tx, key);
      // A control character never occurs in a name, so this key matches no login (not NUL: PostgreSQL text cannot hold it).
      const own = taken ? `${key}\u0001${u.id}` : key;
      if (taken) shadowed.push(u.username);
      await changeUser(tx, u.id, { usernameKey: own });
    }
  });
  if (shadowed.length > 0)
    log.warn(
      { usernames: shadowed },
      'user names are now unique regardless of case: these accounts differ only by case from an older one and answer to their exact spelling only; no new such account can be made',
    );
}
