import { createHash, randomBytes } from 'node:crypto';
import { isoTime, type Clock } from '../clock';
import type { Db } from '../db/open';
import { insertRefreshToken, liveRefreshToken, revokeRefreshTokensOf, touchRefreshToken } from './store';
import { AppError } from '../errors';
import type { Principal } from '../identity/principal';
import { findUserById, type User } from '../identity/users';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Issues a refresh token bound to the user and their current credential version. */
export async function createRefreshToken(db: Db, clock: Clock, principal: Principal, days: number, clientId?: string): Promise<string> {
  if (principal.kind !== 'user') throw new AppError(400, 'invalid_request', 'anonymous callers get no refresh token');
  const user = await findUserById(db, principal.id);
  if (!user) throw new AppError(401, 'unauthorized', 'unknown user');
  const token = `wrt_${randomBytes(32).toString('base64url')}`;
  await insertRefreshToken(db, {
    userId: user.id,
    tokenHash: hashToken(token),
    credentialVersion: user.credentialVersion,
    clientId: clientId?.slice(0, 128) ?? null,
    expiresAt: isoTime(clock.now() + days * 86_400_000),
  });
  return token;
}

const invalidGrant = () => new AppError(401, 'invalid_grant', 'refresh token is invalid, expired or revoked');

/** The user a refresh token stands for; dead after expiry, revocation, password change or disable. */
export async function redeemRefreshToken(db: Db, clock: Clock, token: string): Promise<User> {
  if (token.length > 512) throw invalidGrant();
  const row = await liveRefreshToken(db, hashToken(token));
  if (!row || Date.parse(row.expiresAt) <= clock.now()) throw invalidGrant();
  const user = await findUserById(db, row.userId);
  if (!user || user.disabled || user.credentialVersion !== row.credentialVersion) throw invalidGrant();
  await touchRefreshToken(db, row.id, isoTime(clock.now()));
  return user;
}

/** Revokes every refresh token of a user. */
export async function revokeRefreshTokens(db: Db, userId: number, clock: Clock): Promise<number> {
  return revokeRefreshTokensOf(db, userId, isoTime(clock.now()));
}
