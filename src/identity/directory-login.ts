import { transaction } from '../db/transaction';
import { isoTime, type Clock } from '../clock';
import type { Db, Tx } from '../db/open';
import { changeUser, deleteSessionsOf, groupNamesOf, insertUser, replaceGroupsOf } from './store';
import { AppError } from '../errors';
import { recordAudit } from '../audit/record';
import type { Log } from '../log';
import type { Directory, DirectoryUser } from './ldap';
import { canonicalName, isValidUsername } from './names';
import { findUser, type User } from './users';
import { SYSTEM_ACTOR } from './principal';

export interface DirectoryLoginDeps {
  db: Db;
  clock: Clock;
  log: Log;
  directory: Directory;
  /** How often a user's entry, groups and admin flag are read again from the directory. */
  groupRefreshMs: number;
  /** How long past a due refresh the last known state serves while the directory cannot be reached. */
  outageGraceMs: number;
  /** ldap.adminGroup is set: the directory decides who is a system admin. */
  adminFromDirectory: boolean;
}

export const groupsOf = groupNamesOf;

const refreshedAt = (user: User | undefined) => (user?.groupsRefreshedAt ? Date.parse(user.groupsRefreshedAt) : 0);

/** Writes what the directory just said of a user: email, and (when read) groups and admin flag. */
async function applyDirectoryState(tx: Tx, user: User, found: DirectoryUser, stamp: string, adminFromDirectory: boolean, extra: Partial<User> = {}): Promise<User> {
  const changes: Partial<User> = { email: found.email, ...extra };
  if (found.groups !== null) {
    changes.groupsRefreshedAt = stamp;
    if (adminFromDirectory) changes.admin = found.admin;
    await replaceGroupsOf(tx, user.id, found.groups);
  }
  return changeUser(tx, user.id, changes);
}

/**
 * Logs a user in against the directory: creates the account (source `ldap`, named as the directory
 * spells it) on the first success, refreshes email on every login and groups once the refresh
 * interval has passed. Null for a wrong password or an unknown name; 503 when the directory cannot
 * be reached.
 */
export async function directoryLogin(deps: DirectoryLoginDeps, username: string, password: string, existing: User | undefined): Promise<User | null> {
  const now = deps.clock.now();
  const groupsDue = refreshedAt(existing) + deps.groupRefreshMs <= now;
  const found = await deps.directory.authenticate(username, password, { groups: groupsDue || !existing });
  if (!found) return null;
  // The filter may match on another attribute (mail): the account is the name the directory returns,
  // and it must be the name that was typed, up to case and surrounding space.
  if (canonicalName(found.username) !== canonicalName(username)) {
    deps.log.warn({ username, directoryName: found.username }, 'directory name differs from the login name; refused');
    return null;
  }
  const name = found.username;
  if (!isValidUsername(name)) {
    deps.log.warn({ username: name }, 'directory user name cannot be a Wharf account name (invalid or reserved); refused');
    return null;
  }
  const stamp = isoTime(now);
  return transaction(deps.db, async (tx) => {
    let user = await findUser(tx, name);
    if (user && user.source !== 'ldap') return null;
    if (!user) {
      user = await insertUser(tx, { username: name, usernameKey: canonicalName(name), email: found.email, source: 'ldap', admin: deps.adminFromDirectory && found.admin });
      await recordAudit(tx, {
        username: SYSTEM_ACTOR.username,
        action: 'user_create',
        resourceType: 'user',
        resource: name,
        detail: JSON.stringify({ source: 'ldap' }),
      });
    }
    return applyDirectoryState(tx, user, found, stamp, deps.adminFromDirectory, { lastLoginAt: stamp });
  });
}

/**
 * A directory user who presents a personal token, a refresh token, a session or a cached password
 * follows the directory too: once the refresh interval has passed, the entry, groups and admin flag
 * are read again. Null when the entry is gone: the account loses its groups, sessions and refresh
 * tokens, and stays refused until the directory has it again. While the directory cannot be reached
 * the last known state serves for the grace period, then 503.
 */
export async function followDirectory(deps: DirectoryLoginDeps, user: User): Promise<User | null> {
  if (user.source !== 'ldap' || !deps.directory.enabled) return user;
  const now = deps.clock.now();
  const due = refreshedAt(user) + deps.groupRefreshMs;
  if (due > now) return user;
  let found: DirectoryUser | null;
  try {
    found = await deps.directory.lookup(user.username);
  } catch (err) {
    if (err instanceof AppError && err.status === 503 && user.groupsRefreshedAt && due + deps.outageGraceMs > now) return user;
    throw err;
  }
  if (!found || canonicalName(found.username) !== canonicalName(user.username)) {
    await endDirectoryAccess(deps, user);
    return null;
  }
  return transaction(deps.db, async (tx) => applyDirectoryState(tx, user, found, isoTime(now), deps.adminFromDirectory));
}

/** The directory no longer has the user: sessions, refresh tokens and cached passwords die (the credential version moves); the account and its history stay. */
async function endDirectoryAccess(deps: DirectoryLoginDeps, user: User): Promise<void> {
  await transaction(deps.db, async (tx) => {
    await replaceGroupsOf(tx, user.id, []);
    await deleteSessionsOf(tx, user.id);
    await changeUser(tx, user.id, { groupsRefreshedAt: null, ...(deps.adminFromDirectory ? { admin: false } : {}) }, true);
    if (user.groupsRefreshedAt !== null)
      await recordAudit(tx, { username: SYSTEM_ACTOR.username, action: 'user_update', resourceType: 'user', resource: user.username, detail: JSON.stringify({ directory: 'entry gone' }) });
  });
  deps.log.warn({ username: user.username }, 'directory user no longer in the directory; access refused');
}
