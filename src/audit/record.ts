import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { audit } from '../db/schema';
import type { Tx } from '../db/open';
import { isoTime } from '../clock';

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

/** Denials and failed logins of one subject, address and target fold into one row per minute. */
export const FOLD_BUCKET_MS = 60_000;

export interface FoldBucket {
  /** When this occurrence happened (the injected clock's milliseconds). */
  atMs: number;
  /** Length of the window whose repeats share one row. */
  bucketMs: number;
}

/**
 * Writes an audit row, or adds one to the `count` of the row of the same entry in the same time
 * bucket. The fold key (action, subject, source, resource, outcome, detail and the bucket's start)
 * is unique-indexed, so finding the row to bump is one index lookup.
 */
export function recordFolded(tx: Tx, entry: AuditEntry, bucket: FoldBucket): void {
  const start = Math.floor(bucket.atMs / bucket.bucketMs) * bucket.bucketMs;
  const foldKey = createHash('sha256')
    .update(JSON.stringify([entry.action, entry.username, entry.sourceIp ?? null, entry.resource ?? null, entry.outcome ?? null, entry.detail ?? null, start, bucket.bucketMs]))
    .digest('base64url');
  tx.insert(audit)
    .values({ ...entry, time: isoTime(bucket.atMs), foldKey })
    .onConflictDoUpdate({ target: audit.foldKey, set: { count: sql`${audit.count} + 1` } })
    .run();
}
