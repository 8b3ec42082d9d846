import type { Tx } from '../db/open';
import { transaction } from '../db/transaction';
import { isoTime } from '../clock';
import type { Ctx } from '../context';
import type { PageRequest } from '../db/paged';
import { changeUser, deleteUserRow, insertUser, pageOfUsers, userKeyed, userNamed, userWithId, type User } from './store';
import { badRequest, conflict, fail, forbidden, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import { hashPassword, verifyPassword } from './passwords';
import { canonicalName, MAX_USERNAME_LENGTH, usernameProblem } from './names';
import type { Actor } from './principal';

/** Who changes a user: a system admin may change anyone, others only themselves. */
export interface UserChanger extends Actor {
  admin: boolean;
}

/** The caller of a change as the rules see it: their name, address and whether they are a system admin. */
const changerOf = (ctx: Ctx): UserChanger & { via?: PasswordChanger['via'] } => ({
  ...ctx.actor,
  admin: ctx.principal.admin,
  via: ctx.principal.kind === 'user' ? ctx.principal.via : undefined,
});

export type { User } from './store';

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

/**
 * The user of a name, case-insensitively. The exact spelling wins: accounts that differ only by case
 * from an older one (made before names were unique case-insensitively) keep answering to theirs.
 */
export const findUser = async (db: Tx, username: string): Promise<User | undefined> =>
  (await userNamed(db, username)) ?? (await userKeyed(db, canonicalName(username)));

export const findUserById = userWithId;

export async function getUser(db: Tx, username: string): Promise<User> {
  const user = await findUser(db, username);
  if (!user) throw notFound('user.notFound', { name: username });
  return user;
}

/** A user as the caller may see it: themselves, or anyone for a system admin; 403 before the lookup otherwise. */
export function viewableUser(ctx: Ctx, username: string): Promise<User> {
  if (!ctx.principal.admin && ctx.actor.username !== username) throw forbidden();
  return getUser(ctx.db, username);
}

export interface CreateUserInput {
  username: string;
  password?: string;
  email?: string | null;
  admin?: boolean;
  source?: User['source'];
  passwordHash?: string | null;
}

export async function createUser(ctx: Pick<Ctx, 'db' | 'actor'>, input: CreateUserInput): Promise<User> {
  const { actor } = ctx;
  assertUsername(input.username);
  let passwordHash = input.passwordHash ?? null;
  if (input.password !== undefined) {
    assertPasswordPolicy(input.password);
    passwordHash = await hashPassword(input.password);
  }
  return transaction(ctx.db, async (tx) => {
    if (await findUser(tx, input.username)) throw conflict('user.exists', { name: input.username });
    const user = await insertUser(tx, {
        username: input.username,
        usernameKey: canonicalName(input.username),
        email: input.email ?? null,
        admin: input.admin ?? false,
        source: input.source ?? 'local',
        passwordHash,
    });
    await recordAudit(tx, {
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

export function listUsers(ctx: Pick<Ctx, 'db'>, opts: { q?: string } & PageRequest) {
  return pageOfUsers(ctx.db, opts);
}

export interface UpdateUserInput {
  email?: string | null;
  admin?: boolean;
  disabled?: boolean;
}

/** Admins change anything of anyone; a user only their own email (403 before the lookup otherwise). */
export async function updateUser(ctx: Ctx, username: string, input: UpdateUserInput): Promise<User> {
  const actor = changerOf(ctx);
  if (!actor.admin && (actor.username !== username || input.admin !== undefined || input.disabled !== undefined)) throw forbidden();
  const updated = await transaction(ctx.db, async (tx) => {
    const user = await getUser(tx, username);
    if (user.username === actor.username && (input.admin === false || input.disabled === true))
      throw conflict('user.selfLockout');
    const changes: Partial<User> = { updatedAt: isoTime(ctx.clock.now()) };
    if (input.email !== undefined) changes.email = input.email;
    if (input.admin !== undefined) changes.admin = input.admin;
    if (input.disabled !== undefined) changes.disabled = input.disabled;
    const revoke = (input.disabled === true && !user.disabled) || (input.admin === false && user.admin);
    const updated = await changeUser(tx, user.id, changes, revoke);
    await auditUserUpdate(tx, actor, user.username, input);
    return updated;
  });
  ctx.deps.credentialCache.dropUser(updated.id);
  return updated;
}

/** The audit row of a change to a user; `detail` names what changed (never a secret). */
function auditUserUpdate(tx: Tx, actor: Actor, username: string, detail: object): Promise<void> {
  return recordAudit(tx, { username: actor.username, action: 'user_update', resourceType: 'user', resource: username, sourceIp: actor.ip, detail: JSON.stringify(detail) });
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
export async function changePassword(ctx: Ctx, username: string, input: { oldPassword?: string; newPassword: string }): Promise<User> {
  const { db, deps } = ctx;
  const actor = changerOf(ctx);
  if (actor.via === 'token') throw forbidden('password.notWithToken');
  // Checked before the lookup, so the answer tells a non-admin nothing about which users exist.
  if (canonicalName(actor.username) !== canonicalName(username) && !actor.admin) throw forbidden();
  const user = await getUser(db, username);
  // The account itself, not a twin that differs only by case.
  const self = user.username === actor.username;
  if (!self && !actor.admin) throw forbidden();
  if (user.source === 'ldap') throw conflict('user.directoryPassword');
  assertPasswordPolicy(input.newPassword);
  if (self) {
    if (input.oldPassword === undefined) throw badRequest('password.oldRequired');
    const throttleName = user.usernameKey ?? canonicalName(user.username);
    // Counted before the check, like a login: parallel guesses cannot all pass the lock.
    const attempt = await deps.throttle.attempt(throttleName, actor.ip);
    if ('retryAfter' in attempt)
      throw fail(429, 'too_many_requests', attempt.kind === 'name' ? 'auth.throttled' : 'auth.addressThrottled', {}, { 'Retry-After': String(attempt.retryAfter) });
    if (!user.passwordHash || !(await verifyPassword(input.oldPassword, user.passwordHash))) {
      await recordAudit(db, {
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
    await deps.throttle.succeed(throttleName, actor.ip, attempt);
  }
  const passwordHash = await hashPassword(input.newPassword);
  const updated = await transaction(db, async (tx) => {
    const updated = await changeUser(tx, user.id, { passwordHash, updatedAt: isoTime(ctx.clock.now()) }, true);
    await auditUserUpdate(tx, actor, user.username, { password: 'changed' });
    return updated;
  });
  deps.credentialCache.dropUser(updated.id);
  return updated;
}

export async function deleteUser(ctx: Ctx, username: string): Promise<void> {
  const { actor } = ctx;
  const deleted = await transaction(ctx.db, async (tx) => {
    const user = await getUser(tx, username);
    if (user.username === actor.username) throw conflict('user.deleteSelf');
    await deleteUserRow(tx, user.id);
    await recordAudit(tx, {
      username: actor.username,
      action: 'user_delete',
      resourceType: 'user',
      resource: user.username,
      sourceIp: actor.ip,
    });
    return user;
  });
  ctx.deps.credentialCache.dropUser(deleted.id);
}
