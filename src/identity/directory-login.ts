import { eq } from 'drizzle-orm';
import type { Clock } from '../clock';
import type { Db } from '../db/open';
import { userGroups, users } from '../db/schema';
import { recordAudit } from '../audit/record';
import type { Log } from '../log';
import type { Directory } from './ldap';
import { findUser, isValidUsername, type User } from './users';

export interface DirectoryLoginDeps {
  db: Db;
  clock: Clock;
  log: Log;
  directory: Directory;
  /** How often a user's groups (and admin flag) are read again from the directory. */
  groupRefreshMs: number;
  /** ldap.adminGroup is set: the directory decides who is a system admin. */
  adminFromDirectory: boolean;
}

export const groupsOf = (db: Db, userId: number): string[] =>
  db
    .select({ name: userGroups.groupName })
    .from(userGroups)
    .where(eq(userGroups.userId, userId))
    .all()
    .map((r) => r.name)
    .sort();

/**
 * Logs a user in against the directory: creates the account (source `ldap`) on the first success,
 * refreshes email on every login and groups once the refresh interval has passed. Null for a wrong
 * password or an unknown name; 503 when the directory cannot be reached.
 */
export async function directoryLogin(deps: DirectoryLoginDeps, username: string, password: string, existing: User | undefined): Promise<User | null> {
  const now = deps.clock.now();
  const groupsDue =
    !existing?.groupsRefreshedAt || Date.parse(existing.groupsRefreshedAt) + deps.groupRefreshMs <= now;
  const found = await deps.directory.authenticate(username, password, { groups: groupsDue });
  if (!found) return null;
  // The account is keyed by the name the user typed; the directory's spelling must match it.
  if (found.username !== username) {
    deps.log.warn({ username, directoryName: found.username }, 'directory name differs from the login name; refused');
    return null;
  }
  if (!isValidUsername(username)) {
    deps.log.warn({ username }, 'directory user name cannot be a Wharf account name (invalid or reserved); refused');
    return null;
  }
  const stamp = new Date(now).toISOString();
  return deps.db.transaction((tx) => {
    let user = findUser(tx, username);
    if (user && user.source !== 'ldap') return null;
    if (!user) {
      user = tx
        .insert(users)
        .values({ username, email: found.email, source: 'ldap', admin: deps.adminFromDirectory && found.admin })
        .returning()
        .get();
      recordAudit(tx, {
        username: 'system',
        action: 'user_create',
        resourceType: 'user',
        resource: username,
        detail: JSON.stringify({ source: 'ldap' }),
      });
    }
    const changes: Partial<User> = { email: found.email, lastLoginAt: stamp };
    if (found.groups !== null) {
      changes.groupsRefreshedAt = stamp;
      if (deps.adminFromDirectory) changes.admin = found.admin;
      tx.delete(userGroups).where(eq(userGroups.userId, user.id)).run();
      for (const name of found.groups) tx.insert(userGroups).values({ userId: user.id, groupName: name }).onConflictDoNothing().run();
    }
    return tx.update(users).set(changes).where(eq(users.id, user.id)).returning().get();
  });
}
