import { audit } from '../db/schema';
import type { Tx } from '../db/open';

export type AuditEntry = typeof audit.$inferInsert;

/** Writes one audit row; pass the transaction of the change it records. */
export function recordAudit(tx: Tx, entry: AuditEntry): void {
  tx.insert(audit).values(entry).run();
}
