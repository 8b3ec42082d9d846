import { randomBytes } from 'node:crypto';
import { eq, lt } from 'drizzle-orm';
import type { Clock } from '../clock';
import type { Db } from '../db/open';
import { sessions } from '../db/schema';
import { AppError, forbidden } from '../errors';
import { recordAudit } from '../audit/record';
import { acceptUser, type AuthDeps, type LoginContext } from './authenticate';
import type { Principal } from './principal';
import { hashSecret } from './secrets';
import { findUserById } from './users';

export interface SessionDeps {
  db: Db;
  clock: Clock;
  config: { auth: { sessionHours: number } };
}

export interface CreatedSession {
  cookieValue: string;
  csrfToken: string;
  expiresAt: string;
}

/** Starts a browser session for a user who just proved their password. Robots never get one. */
export function createSession(deps: SessionDeps, principal: Principal, ctx: LoginContext): CreatedSession {
  if (principal.kind !== 'user') throw forbidden('session.usersOnly');
  if (principal.via !== 'password') throw forbidden('session.passwordOnly');
  const user = findUserById(deps.db, principal.id);
  if (!user) throw forbidden('session.unknownUser');
  const cookieValue = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const now = deps.clock.now();
  const expiresAt = new Date(now + deps.config.auth.sessionHours * 3_600_000).toISOString();
  deps.db.transaction((tx) => {
    // Expired sessions are swept as new ones start.
    tx.delete(sessions).where(lt(sessions.expiresAt, new Date(now).toISOString())).run();
    tx.insert(sessions)
      .values({
        idHash: hashSecret(cookieValue),
        userId: user.id,
        csrfToken,
        credentialVersion: user.credentialVersion,
        expiresAt,
        sourceIp: ctx.ip ?? null,
        userAgent: ctx.userAgent?.slice(0, 512) ?? null,
      })
      .run();
    recordAudit(tx, { username: user.username, action: 'login', resourceType: 'session', resource: user.username, sourceIp: ctx.ip ?? null, userAgent: ctx.userAgent?.slice(0, 512) ?? null });
  });
  return { cookieValue, csrfToken, expiresAt };
}

/**
 * The user behind a session cookie; null when it is unknown, expired, the user changed password or
 * was disabled, or (directory users) the directory no longer has them.
 */
export async function resolveSession(deps: AuthDeps, cookieValue: string): Promise<{ principal: Principal; csrfToken: string } | null> {
  if (!cookieValue || cookieValue.length > 128) return null;
  const row = deps.db.select().from(sessions).where(eq(sessions.idHash, hashSecret(cookieValue))).get();
  if (!row || Date.parse(row.expiresAt) <= deps.clock.now()) return null;
  const user = findUserById(deps.db, row.userId);
  if (!user || user.disabled || user.credentialVersion !== row.credentialVersion) return null;
  try {
    return { principal: await acceptUser(deps, user, 'session'), csrfToken: row.csrfToken };
  } catch (err) {
    if (err instanceof AppError && err.status === 401) return null;
    throw err;
  }
}

export function deleteSession(deps: Pick<SessionDeps, 'db'>, cookieValue: string, actor?: { username: string; ip?: string | null }): void {
  deps.db.transaction((tx) => {
    const removed = tx.delete(sessions).where(eq(sessions.idHash, hashSecret(cookieValue))).run().changes;
    if (removed > 0 && actor) recordAudit(tx, { username: actor.username, action: 'logout', resourceType: 'session', resource: actor.username, sourceIp: actor.ip ?? null });
  });
}
