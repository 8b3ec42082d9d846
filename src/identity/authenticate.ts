import { createHmac, randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Clock } from '../clock';
import type { Db } from '../db/open';
import { users } from '../db/schema';
import { fail } from '../errors';
import { FOLD_BUCKET_MS, recordFolded } from '../audit/record';
import { decoyHash, hashKind, hashPassword, verifyPassword } from './passwords';
import type { Principal } from './principal';
import { findUser, findUserById, type User } from './users';
import { verifyRobot } from '../access/robots';
import { verifyPersonalToken } from './tokens';
import type { Directory } from './ldap';
import type { Log } from '../log';
import { directoryLogin } from './directory-login';

interface CacheEntry {
  userId: number;
  credentialVersion: number;
  expiresAt: number;
}

/**
 * Remembers verified credentials for a short time so that a pull of many layers does not pay the
 * password hash on every token request. Keys are an HMAC of user and password under a per-process
 * secret, so the map never holds anything a password could be recovered from.
 */
export class CredentialCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly maxEntries = 10_000,
  ) {}

  key(username: string, password: string): string {
    return createHmac('sha256', this.secret).update(username).update('\0').update(password).digest('base64url');
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, userId: number, credentialVersion: number): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { userId, credentialVersion, expiresAt: this.clock.now() + this.ttlMs });
  }

  /** Forgets every credential of a user (password change, disable, delete). */
  dropUser(userId: number): void {
    for (const [key, entry] of this.entries) if (entry.userId === userId) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Counts failed logins per user name; past the limit the name is locked out for a while. */
export class LoginThrottle {
  private readonly failures = new Map<string, { times: number[]; lockedUntil: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly lockoutMs: number,
  ) {}

  /** Seconds until the name may try again, or 0. */
  retryAfter(username: string): number {
    const state = this.failures.get(username);
    if (!state) return 0;
    const left = state.lockedUntil - this.clock.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  fail(username: string): void {
    const now = this.clock.now();
    if (this.failures.size > 50_000) this.prune(now);
    const state = this.failures.get(username) ?? { times: [], lockedUntil: 0 };
    state.times = state.times.filter((t) => t > now - this.windowMs);
    state.times.push(now);
    if (state.times.length >= this.maxFailures) {
      state.lockedUntil = now + this.lockoutMs;
      state.times = [];
    }
    this.failures.set(username, state);
  }

  succeed(username: string): void {
    this.failures.delete(username);
  }

  private prune(now: number): void {
    for (const [name, state] of this.failures)
      if (state.lockedUntil < now && state.times.every((t) => t <= now - this.windowMs)) this.failures.delete(name);
  }
}

export interface AuthDeps {
  db: Db;
  clock: Clock;
  credentialCache: CredentialCache;
  throttle: LoginThrottle;
  directory?: Directory;
  log?: Log;
  config?: { ldap: { groupRefreshSeconds: number; adminGroup: string } };
}

export interface LoginContext {
  ip?: string | null;
  userAgent?: string | null;
}

export const tooManyAttempts = (retryAfter: number) =>
  fail(429, 'too_many_requests', 'auth.throttled', {}, {
    'Retry-After': String(retryAfter),
  });

export const invalidCredentials = () =>
  fail(401, 'unauthorized', 'auth.invalidLogin', {}, {
    'WWW-Authenticate': 'Basic realm="wharf", charset="UTF-8"',
  });

const userPrincipal = (u: User, via: 'password' | 'token' | 'refresh' | 'session'): Principal => ({
  kind: 'user',
  id: u.id,
  username: u.username,
  admin: u.admin,
  source: u.source,
  via,
});

/**
 * Checks a user name and password. Throws 401 for wrong credentials (a disabled or unknown user
 * looks the same) and 429 while the name is locked out; every failure is audited.
 *
 * The lockout guards passwords only. Robot secrets and personal access tokens are checked first:
 * guessing 256 bits is hopeless, and anyone can lock a name out by sending wrong passwords for
 * it, which must not stop the CI jobs that use that user's tokens.
 */
export async function authenticatePassword(deps: AuthDeps, username: string, password: string, ctx: LoginContext): Promise<Principal> {
  // Robots and personal access tokens: checked on every use (cheap), so a deleted, disabled or
  // expired one fails at once.
  if (username.startsWith('robot$')) {
    const robot = verifyRobot(deps.db, deps.clock, username, password);
    if (robot) return robot;
    recordFailure(deps, username, ctx, 'failure');
    throw invalidCredentials();
  }
  if (password.startsWith('wpat_')) {
    // A token's success does not reset the password failures of its user's name.
    const viaToken = verifyPersonalToken(deps.db, deps.clock, username, password);
    if (viaToken) return viaToken;
  }
  const retry = deps.throttle.retryAfter(username);
  if (retry > 0) {
    recordFailure(deps, username, ctx, 'throttled');
    throw tooManyAttempts(retry);
  }
  const key = deps.credentialCache.key(username, password);
  const cached = deps.credentialCache.get(key);
  if (cached) {
    const user = findUserById(deps.db, cached.userId);
    if (user && !user.disabled && user.credentialVersion === cached.credentialVersion && user.username === username)
      return userPrincipal(user, 'password');
    deps.credentialCache.dropUser(cached.userId);
  }
  const user = findUser(deps.db, username);
  if (deps.directory?.enabled && (!user || user.source === 'ldap')) return loginThroughDirectory(deps, username, password, user, key, ctx);
  const hash = user?.passwordHash ?? decoyHash;
  const ok = (await verifyPassword(password, hash)) && !!user && !!user.passwordHash && !user.disabled && password.length > 0;
  if (!ok || !user) {
    deps.throttle.fail(username);
    recordFailure(deps, username, ctx, 'failure');
    if (user && deps.directory?.enabled) warnIfShadowed(deps, username);
    throw invalidCredentials();
  }
  deps.throttle.succeed(username);
  if (hashKind(user.passwordHash!) !== 'scrypt') await upgradeHash(deps.db, user, password);
  const fresh = findUserById(deps.db, user.id)!;
  deps.credentialCache.set(key, fresh.id, fresh.credentialVersion);
  return userPrincipal(fresh, 'password');
}

async function loginThroughDirectory(
  deps: AuthDeps,
  username: string,
  password: string,
  existing: User | undefined,
  cacheKey: string,
  ctx: LoginContext,
): Promise<Principal> {
  const directory = deps.directory!;
  // 503 (directory unreachable) passes through: clients must not read it as a wrong password.
  const user = await directoryLogin(
    {
      db: deps.db,
      clock: deps.clock,
      log: deps.log!,
      directory,
      groupRefreshMs: (deps.config?.ldap.groupRefreshSeconds ?? 300) * 1000,
      adminFromDirectory: !!deps.config?.ldap.adminGroup,
    },
    username,
    password,
    existing,
  );
  if (!user || user.disabled) {
    deps.throttle.fail(username);
    recordFailure(deps, username, ctx, 'failure');
    throw invalidCredentials();
  }
  deps.throttle.succeed(username);
  deps.credentialCache.set(cacheKey, user.id, user.credentialVersion);
  return userPrincipal(user, 'password');
}

/** A failed local login whose name also exists in the directory: the local account wins; say so. */
function warnIfShadowed(deps: AuthDeps, username: string): void {
  deps
    .directory!.exists(username)
    .then((found) => {
      if (found) deps.log?.warn({ username }, 'a local account shadows the directory user of the same name; directory login refused');
    })
    .catch(() => undefined);
}

/** Rehashes an imported (bcrypt) password with scrypt after its first successful use. */
async function upgradeHash(db: Db, user: User, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  db.update(users)
    .set({ passwordHash })
    .where(eq(users.id, user.id))
    .run();
}

/** A failed login; repeats for one name from one address fold into one row per minute. */
export function recordFailure(deps: Pick<AuthDeps, 'db' | 'clock'>, username: string, ctx: LoginContext, outcome: string): void {
  recordFolded(deps.db, {
    username: username.slice(0, 256),
    action: 'login_failed',
    resourceType: 'user',
    resource: username.slice(0, 256),
    sourceIp: ctx.ip ?? null,
    userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    outcome,
  }, { atMs: deps.clock.now(), bucketMs: FOLD_BUCKET_MS });
}

export function touchLastLogin(db: Db, userId: number): void {
  db.update(users).set({ lastLoginAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))` }).where(eq(users.id, userId)).run();
}

export { userPrincipal };
