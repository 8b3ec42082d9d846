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

export function updateUser(db: Db, username: string, input: UpdateUserInput, actor: Actor): User {
  return db.transaction((tx) => {
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
}

/** The audit row of a change to a user; `detail` names what changed (never a secret). */
function auditUserUpdate(tx: Tx, actor: Actor, username: string, detail: object): void {
  recordAudit(tx, { username: actor.username, action: 'user_update', resourceType: 'user', resource: username, sourceIp: actor.ip, detail: JSON.stringify(detail) });
}

export interface PasswordChanger extends Actor {
  admin: boolean;
  /** How the caller proved who they are; a personal access token may not change a password. */
  via?: 'password' | 'token' | 'session' | 'refresh';
}

/**
 * Sets a password: a user their own (with the old one), a system admin anyone's. The new password
 * is checked first and a wrong old one counts against the login throttle like a failed login, so
 * this is no way round the lockout.
 */
export async function changePassword(
  deps: { db: Db; throttle: Pick<LoginThrottle, 'locked' | 'fail'> },
  username: string,
  input: { oldPassword?: string; newPassword: string },
  actor: PasswordChanger,
): Promise<User> {
  const { db } = deps;
  if (actor.via === 'token') throw forbidden('password.notWithToken');
  const self = canonicalName(actor.username) === canonicalName(username);
  // Checked before the lookup, so the answer tells a non-admin nothing about which users exist.
  if (!self && !actor.admin) throw forbidden();
  const user = getUser(db, username);
  if (user.source === 'ldap') throw conflict('user.directoryPassword');
  assertPasswordPolicy(input.newPassword);
  if (self) {
    if (input.oldPassword === undefined) throw badRequest('password.oldRequired');
    const locked = deps.throttle.locked(user.username, actor.ip);
    if (locked)
      throw fail(429, 'too_many_requests', locked.kind === 'name' ? 'auth.throttled' : 'auth.addressThrottled', {}, { 'Retry-After': String(locked.retryAfter) });
    if (!user.passwordHash || !(await verifyPassword(input.oldPassword, user.passwordHash))) {
      deps.throttle.fail(user.username, actor.ip);
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
  }
  const passwordHash = await hashPassword(input.newPassword);
  return db.transaction((tx) => {
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
}

export function deleteUser(db: Db, username: string, actor: Actor): void {
  db.transaction((tx) => {
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
  });
}
