import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { audit } from '../db/schema';
import type { Tx } from '../db/open';
import { preparedPerConnection } from '../db/prepared';
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

/** The condition of the partial unique index on fold_key, which an upsert on it must name. */
const foldKeyIndexed = sql`${audit.foldKey} IS NOT NULL`;

/** The audit row of a registry event: every column given (null when unknown). */
export interface EventAuditRow {
  time: string;
  username: string;
  action: Extract<AuditAction, 'push' | 'pull' | 'delete' | 'blob_delete'>;
  resourceType: string;
  resource: string;
  project: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  sourceIp: string | null;
  detail: string | null;
  userAgent: string | null;
  /** Rows with the same key fold into one (its `count` goes up); null for rows that never fold. */
  foldKey: string | null;
}

// Runs once per registry event: prepared once per connection instead of built each time.
const eventAuditInsert = preparedPerConnection((db) =>
  db
    .insert(audit)
    .values({
      time: sql.placeholder('time'),
      username: sql.placeholder('username'),
      action: sql.placeholder('action'),
      resourceType: sql.placeholder('resourceType'),
      resource: sql.placeholder('resource'),
      project: sql.placeholder('project'),
      repository: sql.placeholder('repository'),
      tag: sql.placeholder('tag'),
      digest: sql.placeholder('digest'),
      mediaType: sql.placeholder('mediaType'),
      sourceIp: sql.placeholder('sourceIp'),
      detail: sql.placeholder('detail'),
      userAgent: sql.placeholder('userAgent'),
      foldKey: sql.placeholder('foldKey'),
    })
    .onConflictDoUpdate({ target: audit.foldKey, targetWhere: foldKeyIndexed, set: { count: sql`${audit.count} + 1` } })
    .prepare(),
);

/** Writes a registry event's audit row, or bumps the count of the row with the same fold key. */
export function recordEventAudit(tx: Tx, row: EventAuditRow): void {
  eventAuditInsert(tx).run({ ...row });
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
    .onConflictDoUpdate({ target: audit.foldKey, targetWhere: foldKeyIndexed, set: { count: sql`${audit.count} + 1` } })
    .run();
}
