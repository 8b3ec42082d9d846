import { asc, eq, gt, max, sql } from 'drizzle-orm';
import type { audit } from '../db/schema';
import type { Db, Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import { transaction } from '../db/transaction';
import { isoTime } from '../clock';

/** An audit row as the readers of the feed get it. */
export type AuditRow = typeof audit.$inferSelect;

/**
 * The audit log read as a feed, in the order its rows committed, from a cursor kept in the
 * database (audit_cursors) so that whichever instance reads next goes on where the last stopped.
 *
 * Why id order is commit order: on SQLite one writer at a time inserts and commits; on PostgreSQL
 * every transaction takes the transactions lock (db/pg.ts, TRANSACTION_START) from BEGIN to COMMIT
 * and audit rows are only written inside one (record.ts), and the feed reads under the same lock,
 * so no transaction that could still commit a lower id is in flight while it reads. Ids a rolled
 * back transaction took are gaps that never fill. Narrowing that lock must keep audit writers
 * ordered against this reader (one lock of their own).
 *
 * Folded rows (pulls, denials) are read once, when first written: later repeats raise their
 * `count` after the cursor has passed them.
 */

/** The cursor's saved position; null when it was never saved. */
export async function cursorPosition(db: Db, name: string): Promise<number | null> {
  const { auditCursors } = tablesOf(db);
  const rows = await db.select({ position: auditCursors.position }).from(auditCursors).where(eq(auditCursors.name, name));
  return rows[0]?.position ?? null;
}

/** Saves the cursor; pass the transaction that recorded what the rows up to `position` made. */
export async function saveCursor(tx: Tx, name: string, position: number, nowMs: number): Promise<void> {
  const { auditCursors } = tablesOf(tx);
  const updatedAt = isoTime(nowMs);
  await tx
    .insert(auditCursors)
    .values({ name, position, updatedAt })
    .onConflictDoUpdate({ target: auditCursors.name, set: { position, updatedAt } });
}

/** The highest audit id written so far (0 for none). */
export async function lastAuditId(db: Db): Promise<number> {
  const { audit } = tablesOf(db);
  return transaction(db, async (tx) => {
    const rows = await tx.select({ id: max(audit.id) }).from(audit);
    return Number(rows[0]?.id ?? 0);
  });
}

/**
 * Where a reader starts: its saved position, or (the first time) the newest row, so that turning
 * a reader on does not replay the log's history. The start is saved at once.
 */
export async function startCursor(db: Db, name: string, nowMs: number): Promise<number> {
  const saved = await cursorPosition(db, name);
  if (saved !== null) return saved;
  const start = await lastAuditId(db);
  await transaction(db, async (tx) => {
    const { auditCursors } = tablesOf(tx);
    await tx.insert(auditCursors).values({ name, position: start, updatedAt: isoTime(nowMs) }).onConflictDoNothing();
  });
  return (await cursorPosition(db, name)) ?? start;
}

/** Up to `limit` committed audit rows after `position`, oldest first. */
export async function readAuditAfter(db: Db, position: number, limit: number): Promise<AuditRow[]> {
  const { audit } = tablesOf(db);
  // Under the transactions lock on PostgreSQL: see above.
  return transaction(db, (tx) => tx.select().from(audit).where(gt(audit.id, position)).orderBy(asc(audit.id)).limit(limit));
}

/** How many committed audit rows lie after `position` (for a lag gauge; bounded by `cap`). */
export async function auditRowsAfter(db: Db, position: number, cap = 1_000_000): Promise<number> {
  const { audit } = tablesOf(db);
  const rows = await db
    .select({ n: sql<number>`count(*)` })
    .from(db.select({ id: audit.id }).from(audit).where(gt(audit.id, position)).limit(cap).as('pending'));
  return Number(rows[0]?.n ?? 0);
}
