import { and, eq, lt, sql } from 'drizzle-orm';
import { transaction } from '../db/transaction';
import type { Db, Tx } from '../db/open';
import { preparedPerConnection } from '../db/prepared';
import { tokenGrants } from '../db/schema';

/**
 * Which address a registry event came from. The registry fills an event's address from the
 * client's X-Forwarded-For, so it proves nothing; the token request that authorized the operation
 * came to Wharf and its address is checked (see clientIp). Each grant of a repository to a subject
 * is remembered with its address; an event by that subject on that repository is pinned to the
 * address only while exactly one address can hold a valid token for it.
 */

/** The registry accepts a token this long after its expiry. */
export const REGISTRY_EXPIRY_LEEWAY_MS = 60_000;

const upsertGrant = preparedPerConnection((db) =>
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

/**
 * A grant repeated from the same address within this long is not written again: a busy client
 * asks for a token per layer, and each write is a commit. The recorded issue time is then at most
 * this much older than the newest token, which can only turn a late event's address into none.
 */
const REFRESH_GRANT_MS = 30_000;

/** Remembers that `subject` ('' for anonymous) was granted these repositories from `ip` now. */
export async function recordGrants(db: Tx, subject: string, repositories: string[], ip: string | null, nowMs: number, lifetimeSeconds: number): Promise<void> {
  const validMs = lifetimeSeconds * 1000 + REGISTRY_EXPIRY_LEEWAY_MS;
  const refreshMs = Math.min(REFRESH_GRANT_MS, (lifetimeSeconds * 1000) / 4);
  const statement = upsertGrant(db);
  for (const repository of repositories) {
    const known = await grantOf(db).get({ subject, repository });
    // A new address always counts at once: it decides whether events can be pinned to one.
    if (known && known.ip === ip && nowMs - known.issuedAtMs < refreshMs) continue;
    await statement.run({ subject, repository, ip, now: nowMs, validMs });
  }
}

/**
 * The address of the token behind an event by `subject` on `repository` at `atMs`, or null when
 * no unexpired grant explains it or several addresses could have held one.
 */
export async function grantAddress(db: Tx, subject: string, repository: string, atMs: number, lifetimeSeconds: number): Promise<string | null> {
  const grant = await grantOf(db).get({ subject, repository });
  if (!grant || grant.ip === null) return null;
  if (atMs > grant.issuedAtMs + lifetimeSeconds * 1000 + REGISTRY_EXPIRY_LEEWAY_MS) return null;
  // Before this address asked, or while another address's token may still be in use.
  if (atMs < grant.ipSinceMs || atMs <= grant.ambiguousUntilMs) return null;
  return grant.ip;
}

/** How long past a token's validity its grant is kept, for events the registry delivers late (it retries). */
export const GRANT_KEPT_MS = 60 * 60_000;

/** Removes up to `batch` grants no event can be pinned to any more; returns how many. */
export async function pruneGrants(db: Db, nowMs: number, lifetimeSeconds: number, batch = 5000): Promise<number> {
  const before = nowMs - lifetimeSeconds * 1000 - REGISTRY_EXPIRY_LEEWAY_MS - GRANT_KEPT_MS;
  const dead = await db
    .select({ subject: tokenGrants.subject, repository: tokenGrants.repository })
    .from(tokenGrants)
    .where(lt(tokenGrants.issuedAtMs, before))
    .limit(batch)
    .all();
  let removed = 0;
  await transaction(db, async (tx) => {
    for (const g of dead)
      removed += (await tx.delete(tokenGrants).where(and(eq(tokenGrants.subject, g.subject), eq(tokenGrants.repository, g.repository), lt(tokenGrants.issuedAtMs, before))).run()).changes;
  });
  return removed;
}
