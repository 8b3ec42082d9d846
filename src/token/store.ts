import { and, eq, isNull, lt, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { larger, sameValue } from '../db/dialect';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';
import { transaction } from '../db/transaction';
import type { refreshTokens } from '../db/schema';

/** The queries of token grants and refresh tokens: the token service's only SQL. */

export type RefreshToken = typeof refreshTokens.$inferSelect;

const grantUpsert = preparedPerConnection('grant_upsert', (db) => {
  const { tokenGrants } = tablesOf(db);
  const sameAddress = sameValue(db, tokenGrants.ip, sql`excluded.ip`);
  return db
    .insert(tokenGrants)
    .values({
      subject: sql.placeholder('subject'),
      repository: sql.placeholder('repository'),
      ip: sql.placeholder('ip'),
      issuedAtMs: sql.placeholder('now'),
      ipSinceMs: sql.placeholder('now'),
    })
    .onConflictDoUpdate({
      target: [tokenGrants.subject, tokenGrants.repository],
      // SET expressions all read the row as it was, so the old address and issue time decide here.
      set: {
        ambiguousUntilMs: sql`CASE WHEN ${sameAddress} THEN ${tokenGrants.ambiguousUntilMs} ELSE ${larger(db, tokenGrants.ambiguousUntilMs, sql`${tokenGrants.issuedAtMs} + ${sql.placeholder('validMs')}`)} END`,
        ipSinceMs: sql`CASE WHEN ${sameAddress} THEN ${tokenGrants.ipSinceMs} ELSE excluded.issued_at_ms END`,
        ip: sql`excluded.ip`,
        issuedAtMs: sql`excluded.issued_at_ms`,
      },
    });
});

const grantOf = preparedPerConnection('grant_of', (db) => {
  const { tokenGrants } = tablesOf(db);
  return db
    .select()
    .from(tokenGrants)
    .where(and(eq(tokenGrants.subject, sql.placeholder('subject')), eq(tokenGrants.repository, sql.placeholder('repository'))));
});

export const findGrant = (db: Tx, subject: string, repository: string) => grantOf(db).get({ subject, repository });

/** Records a grant; a new address keeps the old one's tokens ambiguous until they expire (`validMs`). */
export const upsertGrant = async (db: Tx, g: { subject: string; repository: string; ip: string | null; now: number; validMs: number }): Promise<void> => {
  await grantUpsert(db).run(g);
};

/** Removes up to `batch` grants issued before `beforeMs`; returns how many. */
export async function deleteGrantsIssuedBefore(db: Tx, beforeMs: number, batch: number): Promise<number> {
  const { tokenGrants } = tablesOf(db);
  const dead = await db
    .select({ subject: tokenGrants.subject, repository: tokenGrants.repository })
    .from(tokenGrants)
    .where(lt(tokenGrants.issuedAtMs, beforeMs))
    .limit(batch);
  let removed = 0;
  await transaction(db, async (tx) => {
    for (const g of dead)
      removed += rowsChanged(
        await tx.delete(tokenGrants).where(and(eq(tokenGrants.subject, g.subject), eq(tokenGrants.repository, g.repository), lt(tokenGrants.issuedAtMs, beforeMs))),
      );
  });
  return removed;
}

export async function insertRefreshToken(db: Tx, values: typeof refreshTokens.$inferInsert): Promise<void> {
  const { refreshTokens } = tablesOf(db);
  await db.insert(refreshTokens).values(values);
}

export function liveRefreshToken(db: Tx, tokenHash: string): Promise<RefreshToken | undefined> {
  const { refreshTokens } = tablesOf(db);
  return firstRow(db.select().from(refreshTokens).where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.revokedAt))));
}

export async function touchRefreshToken(db: Tx, id: number, at: string): Promise<void> {
  const { refreshTokens } = tablesOf(db);
  await db.update(refreshTokens).set({ lastUsedAt: at }).where(eq(refreshTokens.id, id));
}

/** Revokes every live refresh token of a user; returns how many. */
export async function revokeRefreshTokensOf(db: Tx, userId: number, at: string): Promise<number> {
  const { refreshTokens } = tablesOf(db);
  return rowsChanged(await db.update(refreshTokens).set({ revokedAt: at }).where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt))));
}
