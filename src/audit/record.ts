import { audit } from '../db/schema';
import type { Tx } from '../db/open';

/** Every action the audit log records. */
export const AUDIT_ACTIONS = [
  'push',
  'pull',
  'delete',
  'blob_delete',
  'login',
  'login_failed',
  'logout',
  'token_denied',
  'user_create',
  'user_update',
  'user_delete',
  'project_create',
  'project_update',
  'project_delete',
  'member_set',
  'member_remove',
  'group_set',
  'group_remove',
  'robot_create',
  'robot_update',
  'robot_delete',
  'token_create',
  'token_delete',
  'tag_delete',
  'image_delete',
  'repository_delete',
  'reconcile',
  'backup',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditEntry = typeof audit.$inferInsert & { action: AuditAction };

/** Writes one audit row; pass the transaction of the change it records. */
export function recordAudit(tx: Tx, entry: AuditEntry): void {
  tx.insert(audit).values(entry).run();
}
