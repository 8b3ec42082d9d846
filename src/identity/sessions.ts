import { randomBytes } from 'node:crypto';
import { transaction } from '../db/transaction';
import { isoTime, type Clock } from '../clock';
import type { Db } from '../db/open';
import { deleteExpiredSessions, deleteSessionRow, insertSession, sessionByHash } from './store';
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
export async function createSession(deps: SessionDeps, principal: Principal, ctx: LoginContext): Promise<CreatedSession> {
  if (principal.kind !== 'user') throw forbidden('session.usersOnly');
  if (principal.via !== 'password') throw forbidden('session.passwordOnly');
  const user = await findUserById(deps.db, principal.id);
  if (!user) throw forbidden('session.unknownUser');
  const cookieValue = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const now = deps.clock.now();
  const expiresAt = isoTime(now + deps.config.auth.sessionHours * 3_600_000);
  await transaction(deps.db, async (tx) => {
    // Expired sessions are swept as new ones start.
    await deleteExpiredSessions(tx, isoTime(now));
    await insertSession(tx, {
      idHash: hashSecret(cookieValue),
      userId: user.id,
      csrfToken,
      credentialVersion: user.credentialVersion,
      expiresAt,
      sourceIp: ctx.ip ?? null,
      userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    });
    await recordAudit(tx, { username: user.username, action: 'login', resourceType: 'session', resource: user.username, sourceIp: ctx.ip ?? null, userAgent: ctx.userAgent?.slice(0, 512) ?? null });
  });
  return { cookieValue, csrfToken, expiresAt };
}

/**
 * The user behind a session cookie; null when it is unknown, expired, the user changed password or
 * was disabled, or (directory users) the directory no longer has them.
 */
export async function resolveSession(deps: AuthDeps, cookieValue: string): Promise<{ principal: Principal; csrfToken: string } | null> {
  if (!cookieValue || cookieValue.length > 128) return null;
  const row = await sessionByHash(deps.db, hashSecret(cookieValue));
  if (!row || Date.parse(row.expiresAt) <= deps.clock.now()) return null;
  const user = await findUserById(deps.db, row.userId);
  if (!user || user.disabled || user.credentialVersion !== row.credentialVersion) return null;
  try {
    return { principal: await acceptUser(deps, user, 'session'), csrfToken: row.csrfToken };
  } catch (err) {
    if (err instanceof AppError && err.status === 401) return null;
    throw err;
  }
}

export async function deleteSession(deps: Pick<SessionDeps, 'db'>, cookieValue: string, actor?: { username: string; ip?: string | null }): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const removed = await deleteSessionRow(tx, hashSecret(cookieValue));
    if (removed && actor) await recordAudit(tx, { username: actor.username, action: 'logout', resourceType: 'session', resource: actor.username, sourceIp: actor.ip ?? null });
  });
}
