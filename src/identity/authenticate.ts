import { isoTime } from '../clock';
import type { Db } from '../db/open';
import { changeUser, userWithLocks } from './store';
import type { Deps } from '../deps';
import { fail } from '../errors';
import { bestEffortWrite } from '../db/storage';
import { DISTINCT_ROWS_PER_MINUTE, FOLD_BUCKET_MS, recordFolded, recordFoldedCapped } from '../audit/record';
import { decoyHash, hashKind, hashPassword, verifyPassword } from './passwords';
import { userPrincipal, type Principal } from './principal';
import { findUserById, type User } from './users';
import { verifyPersonalToken } from './personal-tokens';
import { directoryLogin, followDirectory, type DirectoryLoginDeps } from './directory-login';
import { canonicalName, usernameProblem } from './names';
import type { ThrottleKind } from './throttle';

export type AuthDeps = Pick<Deps, 'db' | 'clock' | 'credentialCache' | 'throttle' | 'directory' | 'log' | 'config' | 'storageAlarm' | 'credentialVerifiers'>;

export interface LoginContext {
  ip?: string | null;
  userAgent?: string | null;
}

export const tooManyAttempts = (retryAfter: number, kind: ThrottleKind = 'name') =>
  fail(429, 'too_many_requests', kind === 'name' ? 'auth.throttled' : 'auth.addressThrottled', {}, {
    'Retry-After': String(retryAfter),
  });

export const invalidCredentials = () =>
  fail(401, 'unauthorized', 'auth.invalidLogin', {}, {
    'WWW-Authenticate': 'Basic realm="wharf", charset="UTF-8"',
  });

/** The last login is written at most once a minute per user, so a busy CI account does not write on every pull. */
const LAST_LOGIN_EVERY_MS = 60_000;

export function directoryDeps(deps: AuthDeps): DirectoryLoginDeps {
  const { ldap } = deps.config;
  return {
    db: deps.db,
    clock: deps.clock,
    log: deps.log,
    directory: deps.directory,
    groupRefreshMs: ldap.groupRefreshSeconds * 1000,
    outageGraceMs: (ldap.outageGraceSeconds ?? ldap.groupRefreshSeconds) * 1000,
    adminFromDirectory: !!ldap.adminGroup,
  };
}

/**
 * A user whose credential (password, personal token, refresh token, session) was just verified:
 * a directory user follows the directory first (refused once the entry is gone), and a login
 * (anything but a session) notes the time.
 */
export async function acceptUser(deps: AuthDeps, user: User, via: 'password' | 'token' | 'refresh' | 'session'): Promise<Principal> {
  const current = await followDirectory(directoryDeps(deps), user);
  if (!current) throw invalidCredentials();
  if (via !== 'session') await bestEffortWrite(deps.storageAlarm, 'last login', () => noteLogin(deps.db, current, deps.clock.now()));
  return userPrincipal(current, via);
}

async function noteLogin(db: Db, user: User, nowMs: number): Promise<void> {
  if (user.lastLoginAt && Date.parse(user.lastLoginAt) > nowMs - LAST_LOGIN_EVERY_MS) return;
  await changeUser(db, user.id, { lastLoginAt: isoTime(nowMs) });
}

/** What a credential check concludes: the caller, a refusal (already audited), or "not mine, ask the next". */
export type Verdict = Principal | 'refused' | null;

/** One way a name and secret can prove who is calling; the instance's list is in Deps. */
export type CredentialVerifier = (deps: AuthDeps, username: string, secret: string, ctx: LoginContext) => Promise<Verdict>;

/** Personal access tokens; a token's success does not reset the password failures of its user's name. */
export const personalTokenCredential: CredentialVerifier = async (deps, username, secret) => {
  if (!secret.startsWith('wpat_')) return null;
  const owner = await verifyPersonalToken(deps.db, deps.clock, username, secret);
  return owner ? acceptUser(deps, owner, 'token') : null;
};

/** A password checked by the directory; null when this account is not the directory's. */
async function directoryPassword(deps: AuthDeps, username: string, password: string, user: User | undefined): Promise<User | null | undefined> {
  if (!deps.directory.enabled || (user && user.source !== 'ldap')) return undefined;
  // The decoy hash runs beside the directory, so an unknown name, a wrong and a right directory
  // password all cost at least a local account's check.
  const [found] = await Promise.all([directoryLogin(directoryDeps(deps), username, password, user), verifyPassword(password, decoyHash)]);
  return found && !found.disabled ? found : null;
}

/** A password checked against the local hash (a decoy when there is no account). */
async function localPassword(deps: AuthDeps, username: string, password: string, user: User | undefined): Promise<User | null> {
  const hash = user?.passwordHash ?? decoyHash;
  const ok = (await verifyPassword(password, hash)) && !!user && !!user.passwordHash && !user.disabled && password.length > 0;
  if (!ok || !user) {
    if (user && deps.directory.enabled) warnIfShadowed(deps, username);
    return null;
  }
  if (hashKind(user.passwordHash!) !== 'scrypt') await upgradeHash(deps.db, user, password);
  return (await findUserById(deps.db, user.id))!;
}

/**
 * Passwords, local or the directory's, behind the login throttle: an existing account is
 * throttled by its own key, so twins that differ only by case (older accounts) never share or
 * reset each other's count.
 */
export const passwordCredential: CredentialVerifier = async (deps, username, password, ctx) => {
  // The account and the throttle's locks for its usual key in one query; another key is read on its own.
  const guessedName = canonicalName(username);
  const account = await userWithLocks(deps.db, username, guessedName, deps.throttle.lockKeys(guessedName, ctx.ip));
  const user = account?.user;
  const throttleName = user?.usernameKey ?? guessedName;
  const known = !!user;
  const locked = account && throttleName === guessedName ? deps.throttle.lockedFrom(account, ctx.ip) : await deps.throttle.locked(throttleName, ctx.ip);
  if (locked) {
    await recordFailure(deps, username, ctx, 'throttled', known);
    throw tooManyAttempts(locked.retryAfter, locked.kind);
  }
  const key = deps.credentialCache.key(username, password);
  const cached = deps.credentialCache.get(key);
  if (cached) {
    // The row was just read by name: a hit is that user, unchanged since the password was checked.
    if (user && user.id === cached.userId && !user.disabled && user.credentialVersion === cached.credentialVersion) return acceptUser(deps, user, 'password');
    deps.credentialCache.dropUser(cached.userId);
  }
  // Counted before the check, so a burst of parallel guesses cannot all pass the lock.
  const attempt = await deps.throttle.attempt(throttleName, ctx.ip);
  if ('retryAfter' in attempt) {
    await recordFailure(deps, username, ctx, 'throttled', known);
    throw tooManyAttempts(attempt.retryAfter, attempt.kind);
  }
  // A name no account can have is refused before the directory is asked.
  if (!user && usernameProblem(username)) return refuse(deps, username, ctx, known);
  const directoryUser = await directoryPassword(deps, username, password, user);
  const found = directoryUser === undefined ? await localPassword(deps, username, password, user) : directoryUser;
  if (!found) return refuse(deps, username, ctx, known);
  await bestEffortWrite(deps.storageAlarm, 'login throttle', () => deps.throttle.succeed(throttleName, ctx.ip, attempt));
  deps.credentialCache.set(key, found.id, found.credentialVersion);
  // The directory login already followed the directory and noted the login.
  return directoryUser ? userPrincipal(found, 'password') : acceptUser(deps, found, 'password');
};

/**
 * Checks a user name and password. Throws 401 for wrong credentials (a disabled or unknown user
 * looks the same) and 429 while the name or the client's address is locked out; every failure is
 * audited.
 *
 * The lockout guards passwords only. Robot secrets and personal access tokens are checked first:
 * guessing 256 bits is hopeless, and anyone can lock a name out by sending wrong passwords for
 * it, which must not stop the CI jobs that use that user's tokens.
 */
export async function authenticatePassword(deps: AuthDeps, username: string, password: string, ctx: LoginContext): Promise<Principal> {
  // Every way a name and secret are checked, in order (Deps.credentialVerifiers, wired in
  // server.ts): the first verdict that is not null holds.
  for (const verify of deps.credentialVerifiers) {
    const verdict = await verify(deps, username, password, ctx);
    if (verdict === 'refused') throw invalidCredentials();
    if (verdict) return verdict;
  }
  throw invalidCredentials();
}

/** A wrong password (or a name no account can have), already counted by the attempt: audited, 401. */
async function refuse(deps: AuthDeps, username: string, ctx: LoginContext, known: boolean): Promise<'refused'> {
  await recordFailure(deps, username, ctx, 'failure', known);
  return 'refused';
}

/** A failed local login whose name also exists in the directory: the local account wins; say so. */
function warnIfShadowed(deps: AuthDeps, username: string): void {
  deps.directory
    .exists(username)
    .then((found) => {
      if (found) deps.log.warn({ username }, 'a local account shadows the directory user of the same name; directory login refused');
    })
    .catch(() => undefined);
}

/** Rehashes an imported (bcrypt) password with scrypt after its first successful use. */
async function upgradeHash(db: Db, user: User, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  await changeUser(db, user.id, { passwordHash });
}

/** A failed login; repeats for one name from one address fold into one row per minute. */
/**
 * Audits a failed login, folded per name, address and minute. Failures for names no account has
 * are capped per address (spraying random names adds a bounded number of rows); an existing
 * account's failures always keep their own row, so an attack on it cannot hide in the overflow.
 */
export async function recordFailure(deps: Pick<AuthDeps, 'db' | 'clock'>, username: string, ctx: LoginContext, outcome: string, known = false): Promise<void> {
  const entry = {
    username: username.slice(0, 256),
    action: 'login_failed' as const,
    resourceType: 'user',
    resource: username.slice(0, 256),
    sourceIp: ctx.ip ?? null,
    userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    outcome,
  };
  const bucket = { atMs: deps.clock.now(), bucketMs: FOLD_BUCKET_MS };
  if (known) return recordFolded(deps.db, entry, bucket);
  await recordFoldedCapped(deps.db, entry, bucket, {
    scope: ['login_failed', ctx.ip ?? null, outcome],
    maxRows: DISTINCT_ROWS_PER_MINUTE,
    overflow: { username: 'anonymous', resource: '*', detail: JSON.stringify({ more: 'names past the per-minute limit' }) },
  });
}

export { userPrincipal };
