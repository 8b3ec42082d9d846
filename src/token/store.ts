import { and, eq, isNull, lt, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { preparedPerConnection } from '../db/prepared';
import { transaction } from '../db/transaction';
import { refreshTokens, tokenGrants } from '../db/schema';

/** The queries of token grants and refresh tokens: the token service's only SQL. */

export type RefreshToken = typeof refreshTokens.$inferSelect;

const grantUpsert = preparedPerConnection((db) =>
  db
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
        ambiguousUntilMs: sql`CASE WHEN ${tokenGrants.ip} IS excluded.ip THEN ${tokenGrants.ambiguousUntilMs} ELSE max(${tokenGrants.ambiguousUntilMs}, ${tokenGrants.issuedAtMs} + ${sql.placeholder('validMs')}) END`,
        ipSinceMs: sql`CASE WHEN ${tokenGrants.ip} IS excluded.ip THEN ${tokenGrants.ipSinceMs} ELSE excluded.issued_at_ms END`,
        ip: sql`excluded.ip`,
        issuedAtMs: sql`excluded.issued_at_ms`,
      },
    })
    .prepare(),
);

const grantOf = preparedPerConnection((db) =>
  db
    .select()
    .from(tokenGrants)
    .where(and(eq(tokenGrants.subject, sql.placeholder('subject')), eq(tokenGrants.repository, sql.placeholder('repository'))))
    .prepare(),
);


export const findGrant = (db: Tx, subject: string, repository: string) => grantOf(db).get({ subject, repository });

/** Records a grant; a new address keeps the old one's tokens ambiguous until they expire (`validMs`). */
export const upsertGrant = async (db: Tx, g: { subject: string; repository: string; ip: string | null; now: number; validMs: number }): Promise<void> => {
  await grantUpsert(db).run(g);
};

/** Removes up to `batch` grants issued before `beforeMs`; returns how many. */
export async function deleteGrantsIssuedBefore(db: Tx, beforeMs: number, batch: number): Promise<number> {
  const dead = await db
    .select({ subject: tokenGrants.subject, repository: tokenGrants.repository })
    .from(tokenGrants)
    .where(lt(tokenGrants.issuedAtMs, beforeMs))
    .limit(batch)
    .all();
  let removed = 0;
  await transaction(db, async (tx) => {
    for (const g of dead)
      removed += (await tx.delete(tokenGrants).where(and(eq(tokenGrants.subject, g.subject), eq(tokenGrants.repository, g.repository), lt(tokenGrants.issuedAtMs, beforeMs))).run()).changes;
  });
  return removed;
}

export const insertRefreshToken = async (db: Tx, values: typeof refreshTokens.$inferInsert): Promise<void> => {
  await db.insert(refreshTokens).values(values).run();
};

export const liveRefreshToken = (db: Tx, tokenHash: string): Promise<RefreshToken | undefined> =>
  db.select().from(refreshTokens).where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.revokedAt))).get();

export const touchRefreshToken = async (db: Tx, id: number, at: string): Promise<void> => {
  await db.update(refreshTokens).set({ lastUsedAt: at }).where(eq(refreshTokens.id, id)).run();
};

/** Revokes every live refresh token of a user; returns how many. */
export const revokeRefreshTokensOf = async (db: Tx, userId: number, at: string): Promise<number> =>
  (await db.update(refreshTokens).set({ revokedAt: at }).where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt))).run()).changes;
