import { createHash } from 'node:crypto';
import { eq, inArray, lt, sql } from 'drizzle-orm';
import type { audit } from '../db/schema';
import type { Db, Tx } from '../db/open';
import { engineOf, firstRow, rowsChanged, tablesOf, type Tables } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';
import { isoTime } from '../clock';
import { inTransaction, transaction } from '../db/transaction';

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
  'restore',
  'signing_key_rotate',
  'notification_secret_rotate',
  'registry_create',
  'registry_update',
  'registry_delete',
  'replication_policy_create',
  'replication_policy_update',
  'replication_policy_delete',
  'replication_run',
  'read_only_set',
  'gc_run',
  'retention_set',
  'retention_run',
  'immutability_set',
  'immutable_violation',
  'quota_set',
  'gc_schedule_set',
  'webhook_create',
  'webhook_update',
  'webhook_delete',
  'webhook_redeliver',
  'quota_exceeded',
  'audit_export',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditEntry = typeof audit.$inferInsert & { action: AuditAction };

/**
 * On PostgreSQL audit rows are written inside a transaction, always: the audit feed (feed.ts) reads
 * them in commit order only because every writer of the log takes the transactions lock. (SQLite
 * has one writer at a time anyway.)
 */
const inTx = <T>(db: Tx, work: (tx: Tx) => Promise<T>): Promise<T> =>
  inTransaction(db) || engineOf(db) === 'sqlite' ? work(db) : transaction(db, work);

/** Writes one audit row; pass the transaction of the change it records. */
export async function recordAudit(tx: Tx, entry: AuditEntry): Promise<void> {
  await inTx(tx, (t) => t.insert(tablesOf(t).audit).values(entry));
}

/** The condition of the partial unique index on fold_key, which an upsert on it must name. */
const foldKeyIndexed = (audit: Tables['audit']) => sql`${audit.foldKey} IS NOT NULL`;

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
const eventAuditInsert = preparedPerConnection('event_audit_insert', (db) => {
  const { audit } = tablesOf(db);
  return db
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
    .onConflictDoUpdate({ target: audit.foldKey, targetWhere: foldKeyIndexed(audit), set: { count: sql`${audit.count} + 1` } });
});

/** Writes a registry event's audit row, or bumps the count of the row with the same fold key. */
export async function recordEventAudit(tx: Tx, row: EventAuditRow): Promise<void> {
  await inTx(tx, (t) => eventAuditInsert(t).run({ ...row }));
}

/** Denials and failed logins of one subject, address and target fold into one row per minute. */
export const FOLD_BUCKET_MS = 60_000;

/** Distinct denial or failed-login rows one caller (subject and address) adds per minute before they fold into one. */
export const DISTINCT_ROWS_PER_MINUTE = 20;

export interface FoldBucket {
  /** When this occurrence happened (the injected clock's milliseconds). */
  atMs: number;
  /** Length of the window whose repeats share one row. */
  bucketMs: number;
}

const bucketStart = (bucket: FoldBucket) => Math.floor(bucket.atMs / bucket.bucketMs) * bucket.bucketMs;

const hashOf = (parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('base64url');

const foldKeyOf = (entry: AuditEntry, bucket: FoldBucket) =>
  hashOf([entry.action, entry.username, entry.sourceIp ?? null, entry.resource ?? null, entry.outcome ?? null, entry.detail ?? null, bucketStart(bucket), bucket.bucketMs]);

/**
 * Writes an audit row, or adds one to the `count` of the row of the same entry in the same time
 * bucket. The fold key (action, subject, source, resource, outcome, detail and the bucket's start)
 * is unique-indexed, so finding the row to bump is one index lookup.
 */
export async function recordFolded(db: Tx, entry: AuditEntry, bucket: FoldBucket): Promise<void> {
  await inTx(db, async (tx) => {
    const { audit } = tablesOf(tx);
    await tx
      .insert(audit)
      .values({ ...entry, time: isoTime(bucket.atMs), foldKey: foldKeyOf(entry, bucket) })
      .onConflictDoUpdate({ target: audit.foldKey, targetWhere: foldKeyIndexed(audit), set: { count: sql`${audit.count} + 1` } });
  });
}

export interface FoldCap {
  /** What the cap counts for, e.g. action, subject and address. */
  scope: unknown[];
  /** Distinct rows the scope may add per bucket; past it, new targets fold into one overflow row. */
  maxRows: number;
  /** What the overflow row says instead of the target. */
  overflow: Partial<AuditEntry>;
}

/**
 * recordFolded with a cap on distinct rows per scope and bucket: one caller sending a new target
 * on every request (random repository or user names) adds at most `maxRows` rows a bucket plus
 * one overflow row that counts the rest. Each call is a few primary-key or unique-index lookups.
 */
export async function recordFoldedCapped(db: Tx, entry: AuditEntry, bucket: FoldBucket, cap: FoldCap): Promise<void> {
  await inTx(db, (tx) => recordFoldedCappedIn(tx, entry, bucket, cap));
}

async function recordFoldedCappedIn(tx: Tx, entry: AuditEntry, bucket: FoldBucket, cap: FoldCap): Promise<void> {
  const { audit, auditBudget } = tablesOf(tx);
  const foldKey = foldKeyOf(entry, bucket);
  const bumped = rowsChanged(await tx.update(audit).set({ count: sql`${audit.count} + 1` }).where(eq(audit.foldKey, foldKey)));
  if (bumped > 0) return;
  const start = bucketStart(bucket);
  const used = (await firstRow(
    tx
      .insert(auditBudget)
      .values({ key: hashOf([...cap.scope, start, bucket.bucketMs]), rows: 1, expiresAt: start + bucket.bucketMs })
      .onConflictDoUpdate({ target: auditBudget.key, set: { rows: sql`${auditBudget.rows} + 1` } })
      .returning({ rows: auditBudget.rows }),
  ))!.rows;
  if (used <= cap.maxRows) await tx.insert(audit).values({ ...entry, time: isoTime(bucket.atMs), foldKey });
  else await recordFolded(tx, { ...entry, ...cap.overflow }, bucket);
}

/** Removes up to `batch` dead budget rows; returns how many. */
export async function pruneAuditBudget(db: Db, nowMs: number, batch = 5000): Promise<number> {
  const { auditBudget } = tablesOf(db);
  const dead = (await db.select({ key: auditBudget.key }).from(auditBudget).where(lt(auditBudget.expiresAt, nowMs)).limit(batch)).map((r) => r.key);
  if (dead.length === 0) return 0;
  return rowsChanged(await db.delete(auditBudget).where(inArray(auditBudget.key, dead)));
}
