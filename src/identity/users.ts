import { asc, count, eq, or, sql } from 'drizzle-orm';
import { contains } from '../db/search';
import { preparedPerConnection } from '../db/prepared';
import type { Db, Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { users } from '../db/schema';
import { badRequest, conflict, fail, forbidden, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import { hashPassword, verifyPassword } from './passwords';
import { canonicalName, MAX_USERNAME_LENGTH, usernameProblem } from './names';
import type { Actor } from './principal';
import type { LoginThrottle } from './throttle';
import type { CredentialCache } from './credential-cache';

/** What a change to a user's credentials needs besides the database: the cache of verified credentials to drop them from. */
export interface UserChangeDeps {
  db: Db;
  credentialCache: Pick<CredentialCache, 'dropUser'>;
}

/** Who changes a user: a system admin may change anyone, others only themselves. */
export interface UserChanger extends Actor {
  admin: boolean;
}

export type User = typeof users.$inferSelect;

export { isValidUsername, RESERVED_USERNAMES } from './names';

export function assertUsername(username: string): void {
  const problem = usernameProblem(username);
  if (problem) throw badRequest(problem, { name: username, max: MAX_USERNAME_LENGTH });
}

export function assertPasswordPolicy(password: string): void {
  if (password.length < 8) throw badRequest('password.tooShort', { min: 8 });
  if (password.length > 256) throw badRequest('password.tooLong', { max: 256 });
}

/** The public view of a user: never the hash. */
export function userView(u: User) {
  return {
    username: u.username,
    email: u.email,
    admin: u.admin,
    disabled: u.disabled,
    source: u.source,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    lastLoginAt: u.lastLoginAt,
  };
}

const userByName = preparedPerConnection((db) =>
  db.select().from(users).where(eq(users.username, sql.placeholder('username'))).prepare(),
);
const userByKey = preparedPerConnection((db) =>
  db.select().from(users).where(eq(users.usernameKey, sql.placeholder('key'))).prepare(),
);
const userById = preparedPerConnection((db) => db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare());

/**
 * The user of a name, case-insensitively. The exact spelling wins: accounts that differ only by case
 * from an older one (made before names were unique case-insensitively) keep answering to theirs.
 */
export const findUser = (db: Tx, username: string): User | undefined =>
  userByName(db).get({ username }) ?? userByKey(db).get({ key: canonicalName(username) });

export const findUserById = (db: Tx, id: number): User | undefined => userById(db).get({ id });

export function getUser(db: Tx, username: string): User {
  const user = findUser(db, username);
  if (!user) throw notFound('user.notFound', { name: username });
  return user;
}

/** A user as the caller may see it: themselves, or anyone for a system admin; 403 before the lookup otherwise. */
export function viewableUser(db: Tx, caller: UserChanger, username: string): User {
  if (!caller.admin && caller.username !== username) throw forbidden();
  return getUser(db, username);
}

export interface CreateUserInput {
  username: string;
  password?: string;
  email?: string | null;
  admin?: boolean;
  source?: User['source'];
  passwordHash?: string | null;
}

export async function createUser(db: Db, input: CreateUserInput, actor: Actor): Promise<User> {
  assertUsername(input.username);
  let passwordHash = input.passwordHash ?? null;
  if (input.password !== undefined) {
    assertPasswordPolicy(input.password);
    passwordHash = await hashPassword(input.password);
  }
  return db.transaction((tx) => {
    if (findUser(tx, input.username)) throw conflict('user.exists', { name: input.username });
    const user = tx
      .insert(users)
      .values({
        username: input.username,
        usernameKey: canonicalName(input.username),
        email: input.email ?? null,
        admin: input.admin ?? false,
        source: input.source ?? 'local',
        passwordHash,
      })
      .returning()
      .get();
    recordAudit(tx, {
      username: actor.username,
      action: 'user_create',
      resourceType: 'user',
      resource: user.username,
      sourceIp: actor.ip,
      detail: JSON.stringify({ admin: user.admin, source: user.source }),
    });
    return user;
  });
}

export function listUsers(db: Tx, opts: { q?: string } & PageRequest) {
  const where = opts.q ? or(contains(users.username, opts.q), contains(users.email, opts.q)) : undefined;
  return readPage(db.select().from(users).where(where).orderBy(asc(users.username)), db.select({ n: count() }).from(users).where(where), opts);
}

export interface UpdateUserInput {
  email?: string | null;
  admin?: boolean;
  disabled?: boolean;
}

/** Admins change anything of anyone; a user only their own email (403 before the lookup otherwise). */
export function updateUser(deps: UserChangeDeps, username: string, input: UpdateUserInput, actor: UserChanger): User {
  if (!actor.admin && (actor.username !== username || input.admin !== undefined || input.disabled !== undefined)) throw forbidden();
  const updated = deps.db.transaction((tx) => {
    const user = getUser(tx, username);
    if (user.username === actor.username && (input.admin === false || input.disabled === true))
      throw conflict('user.selfLockout');
    const changes: Partial<User> = { updatedAt: new Date().toISOString() };
    if (input.email !== undefined) changes.email = input.email;
    if (input.admin !== undefined) changes.admin = input.admin;
    if (input.disabled !== undefined) changes.disabled = input.disabled;
    const revoke = (input.disabled === true && !user.disabled) || (input.admin === false && user.admin);
    const updated = tx
      .update(users)
      .set({ ...changes, ...(revoke ? { credentialVersion: sql`${users.credentialVersion} + 1` } : {}) })
      .where(eq(users.id, user.id))
      .returning()
      .get();
    auditUserUpdate(tx, actor, user.username, input);
    return updated;
  });
  deps.credentialCache.dropUser(updated.id);
  return updated;
}

/** The audit row of a change to a user; `detail` names what changed (never a secret). */
function auditUserUpdate(tx: Tx, actor: Actor, username: string, detail: object): void {
  recordAudit(tx, { username: actor.username, action: 'user_update', resourceType: 'user', resource: username, sourceIp: actor.ip, detail: JSON.stringify(detail) });
}

export interface PasswordChanger extends UserChanger {
  /** How the caller proved who they are; a personal access token may not change a password. */
  via?: 'password' | 'token' | 'session' | 'refresh';
}

/**
 * Sets a password: a user their own (with the old one), a system admin anyone's. The new password
 * is checked first and a wrong old one counts against the login throttle like a failed login, so
 * this is no way round the lockout.
 */
export async function changePassword(
  deps: UserChangeDeps & { throttle: Pick<LoginThrottle, 'attempt' | 'succeed'> },
  username: string,
  input: { oldPassword?: string; newPassword: string },
  actor: PasswordChanger,
): Promise<User> {
  const { db } = deps;
  if (actor.via === 'token') throw forbidden('password.notWithToken');
  // Checked before the lookup, so the answer tells a non-admin nothing about which users exist.
  if (canonicalName(actor.username) !== canonicalName(username) && !actor.admin) throw forbidden();
  const user = getUser(db, username);
  // The account itself, not a twin that differs only by case.
  const self = user.username === actor.username;
  if (!self && !actor.admin) throw forbidden();
  if (user.source === 'ldap') throw conflict('user.directoryPassword');
  assertPasswordPolicy(input.newPassword);
  if (self) {
    if (input.oldPassword === undefined) throw badRequest('password.oldRequired');
    const throttleName = user.usernameKey ?? canonicalName(user.username);
    // Counted before the check, like a login: parallel guesses cannot all pass the lock.
    const attempt = deps.throttle.attempt(throttleName, actor.ip);
    if ('retryAfter' in attempt)
      throw fail(429, 'too_many_requests', attempt.kind === 'name' ? 'auth.throttled' : 'auth.addressThrottled', {}, { 'Retry-After': String(attempt.retryAfter) });
    if (!user.passwordHash || !(await verifyPassword(input.oldPassword, user.passwordHash))) {
      recordAudit(db, {
        username: actor.username,
        action: 'login_failed',
        resourceType: 'user',
        resource: user.username,
        sourceIp: actor.ip,
        userAgent: actor.userAgent ?? null,
        outcome: 'failure',
        detail: JSON.stringify({ password: 'oldPassword wrong' }),
      });
      throw forbidden('password.oldWrong');
    }
    deps.throttle.succeed(throttleName, actor.ip, attempt);
  }
  const passwordHash = await hashPassword(input.newPassword);
  const updated = db.transaction((tx) => {
    const updated = tx
      .update(users)
      .set({
        passwordHash,
        credentialVersion: sql`${users.credentialVersion} + 1`,
        updatedAt: new Date().toISOString(),
      })
      .where(eq(users.id, user.id))
      .returning()
      .get();
    auditUserUpdate(tx, actor, user.username, { password: 'changed' });
    return updated;
  });
  deps.credentialCache.dropUser(updated.id);
  return updated;
}

export function deleteUser(deps: UserChangeDeps, username: string, actor: Actor): void {
  const deleted = deps.db.transaction((tx) => {
    const user = getUser(tx, username);
    if (user.username === actor.username) throw conflict('user.deleteSelf');
    tx.delete(users).where(eq(users.id, user.id)).run();
    recordAudit(tx, {
      username: actor.username,
      action: 'user_delete',
      resourceType: 'user',
      resource: user.username,
      sourceIp: actor.ip,
    });
    return user;
  });
  deps.credentialCache.dropUser(deleted.id);
}
