import { isoTime, type Clock } from '../clock';
import type { Ctx } from '../context';
import type { Db, Tx } from '../db/open';
import { transaction } from '../db/transaction';
import { badRequest, conflict, forbidden, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import type { Principal } from './principal';
import { hashSecret, newSecret, sameHash } from './secrets';
import { canonicalName } from './names';
import { deletePersonalTokenRow, findPersonalToken, insertPersonalToken, personalTokenByHash, personalTokenRows, touchPersonalToken, userWithId, type PersonalToken, type User } from './store';
import { getUser } from './users';

export type { PersonalToken } from './store';

const TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const tokenView = (t: PersonalToken) => ({ name: t.name, expiresAt: t.expiresAt, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt });

/** Only the user may mint their own tokens; a system admin may list and revoke anyone's. */
function tokenOwner(tx: Tx, principal: Principal, username: string, minting: boolean): Promise<User> {
  if (principal.kind !== 'user') throw forbidden('token.usersOnly');
  if (principal.username !== username && (minting || !principal.admin)) throw forbidden();
  // A leaked token must not be able to outlive its revocation by minting successors.
  if (minting && principal.via === 'token') throw forbidden('token.noMinting');
  return getUser(tx, username);
}

export function createPersonalToken(ctx: Ctx, username: string, input: { name: string; expiresInDays?: number }) {
  const { principal, actor } = ctx;
  if (!TOKEN_NAME_RE.test(input.name)) throw badRequest('token.badName');
  const { secret, hash } = newSecret('wpat');
  const expiresAt = input.expiresInDays ? isoTime(ctx.clock.now() + input.expiresInDays * 86_400_000) : null;
  return transaction(ctx.db, async (tx) => {
    const user = await tokenOwner(tx, principal, username, true);
    if (await findPersonalToken(tx, user.id, input.name)) throw conflict('token.exists', { name: input.name });
    const row = await insertPersonalToken(tx, { userId: user.id, name: input.name, secretHash: hash, expiresAt });
    await recordAudit(tx, {
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

export async function listPersonalTokens(ctx: Pick<Ctx, 'db' | 'principal'>, username: string) {
  const user = await tokenOwner(ctx.db, ctx.principal, username, false);
  return (await personalTokenRows(ctx.db, user.id)).map(tokenView);
}

export async function deletePersonalToken(ctx: Ctx, username: string, name: string): Promise<void> {
  const { principal, actor } = ctx;
  await transaction(ctx.db, async (tx) => {
    const user = await tokenOwner(tx, principal, username, false);
    if (!(await deletePersonalTokenRow(tx, user.id, name))) throw notFound('token.notFound', { name });
    await recordAudit(tx, { username: actor.username, action: 'token_delete', resourceType: 'token', resource: `${username}/${name}`, sourceIp: actor.ip });
  });
}

/** The user of a personal access token presented with that user's name; null when they do not match. */
export async function verifyPersonalToken(db: Db, clock: Clock, username: string, secret: string): Promise<User | null> {
  if (!secret.startsWith('wpat_') || secret.length > 256) return null;
  const row = await personalTokenByHash(db, hashSecret(secret));
  if (!row || !sameHash(row.secretHash, hashSecret(secret))) return null;
  if (row.expiresAt && Date.parse(row.expiresAt) <= clock.now()) return null;
  const user = await userWithId(db, row.userId);
  if (!user || canonicalName(user.username) !== canonicalName(username) || user.disabled) return null;
  // Last use to the minute: a token that pulls all day writes once a minute, not on every request.
  const now = clock.now();
  if (!row.lastUsedAt || Date.parse(row.lastUsedAt) <= now - 60_000) await touchPersonalToken(db, row.id, isoTime(now));
  return user;
}
