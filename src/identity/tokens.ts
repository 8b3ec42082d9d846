import { and, asc, eq } from 'drizzle-orm';
import type { Clock } from '../clock';
import type { Db, Tx } from '../db/open';
import { personalTokens } from '../db/schema';
import { badRequest, conflict, forbidden, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import type { Actor, Principal } from './principal';
import { hashSecret, newSecret, sameHash } from './secrets';
import { getUser, findUserById, type User } from './users';
import { canonicalName } from './names';

export type PersonalToken = typeof personalTokens.$inferSelect;

const TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const tokenView = (t: PersonalToken) => ({ name: t.name, expiresAt: t.expiresAt, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt });

/** Only the user may mint their own tokens; a system admin may list and revoke anyone's. */
function tokenOwner(tx: Tx, principal: Principal, username: string, minting: boolean) {
  if (principal.kind !== 'user') throw forbidden('token.usersOnly');
  if (principal.username !== username && (minting || !principal.admin)) throw forbidden();
  // A leaked token must not be able to outlive its revocation by minting successors.
  if (minting && principal.via === 'token') throw forbidden('token.noMinting');
  return getUser(tx, username);
}

export function createPersonalToken(
  db: Db,
  clock: Clock,
  principal: Principal,
  username: string,
  input: { name: string; expiresInDays?: number },
  actor: Actor,
) {
  if (!TOKEN_NAME_RE.test(input.name)) throw badRequest('token.badName');
  const { secret, hash } = newSecret('wpat');
  const expiresAt = input.expiresInDays ? new Date(clock.now() + input.expiresInDays * 86_400_000).toISOString() : null;
  return db.transaction((tx) => {
    const user = tokenOwner(tx, principal, username, true);
    if (tx.select().from(personalTokens).where(and(eq(personalTokens.userId, user.id), eq(personalTokens.name, input.name))).get())
      throw conflict('token.exists', { name: input.name });
    const row = tx.insert(personalTokens).values({ userId: user.id, name: input.name, secretHash: hash, expiresAt }).returning().get();
    recordAudit(tx, {
      username: actor.username,
      action: 'token_create',
      resourceType: 'token',
      resource: `${username}/${input.name}`,
      sourceIp: actor.ip,
      detail: JSON.stringify({ expiresAt }),
    });
    return { ...tokenView(row), secret };
  });
}

export function listPersonalTokens(db: Tx, principal: Principal, username: string) {
  const user = tokenOwner(db, principal, username, false);
  return db.select().from(personalTokens).where(eq(personalTokens.userId, user.id)).orderBy(asc(personalTokens.name)).all().map(tokenView);
}

export function deletePersonalToken(db: Db, principal: Principal, username: string, name: string, actor: Actor): void {
  db.transaction((tx) => {
    const user = tokenOwner(tx, principal, username, false);
    const removed = tx
      .delete(personalTokens)
      .where(and(eq(personalTokens.userId, user.id), eq(personalTokens.name, name)))
      .run().changes;
    if (removed === 0) throw notFound('token.notFound', { name });
    recordAudit(tx, { username: actor.username, action: 'token_delete', resourceType: 'token', resource: `${username}/${name}`, sourceIp: actor.ip });
  });
}

/** The user of a personal access token presented with that user's name; null when they do not match. */
export function verifyPersonalToken(db: Db, clock: Clock, username: string, secret: string): User | null {
  if (!secret.startsWith('wpat_') || secret.length > 256) return null;
  const row = db.select().from(personalTokens).where(eq(personalTokens.secretHash, hashSecret(secret))).get();
  if (!row || !sameHash(row.secretHash, hashSecret(secret))) return null;
  if (row.expiresAt && Date.parse(row.expiresAt) <= clock.now()) return null;
  const user = findUserById(db, row.userId);
  if (!user || canonicalName(user.username) !== canonicalName(username) || user.disabled) return null;
  // Last use to the minute: a token that pulls all day writes once a minute, not on every request.
  const now = clock.now();
  if (!row.lastUsedAt || Date.parse(row.lastUsedAt) <= now - 60_000)
    db.update(personalTokens).set({ lastUsedAt: new Date(now).toISOString() }).where(eq(personalTokens.id, row.id)).run();
  return user;
}
