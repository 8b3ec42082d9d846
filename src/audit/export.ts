import { and, desc, lt, lte, max, or, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import { transaction } from '../db/transaction';
import { recordAudit } from './record';
import { auditView, auditWhere, type AuditFilters, type AuditScope } from './list';
import { CONTENT_TYPES, csvHeader, encodeRows, exportFileName, textStream, type ExportFormat } from './export-format';

/** Rows read per query: a batch is all an export holds in memory. */
export const EXPORT_BATCH = 1000;

interface Position {
  time: string;
  id: number;
}

/**
 * The next `limit` rows of `where` up to row `lastId`, newest first (the listing's order), after
 * `after`: keyset paging on (time, id), never an offset.
 */
async function auditBatch(db: Tx, where: SQL | undefined, lastId: number, after: Position | null, limit: number) {
  const { audit } = tablesOf(db);
  const past = after && and(lte(audit.time, after.time), or(lt(audit.time, after.time), lt(audit.id, after.id)));
  return db
    .select()
    .from(audit)
    .where(and(where, lte(audit.id, lastId), past ?? undefined))
    .orderBy(desc(audit.time), desc(audit.id))
    .limit(limit);
}

/** The filters given, as the export's audit row names them. */
const givenFilters = (f: AuditFilters) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== ''));

export interface AuditExport {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  fileName: string;
}

/**
 * The audit rows a scope allows, filtered, as a JSONL or CSV stream, newest first. The export's
 * own audit row is written first, with the highest id the stream will read: the file holds the
 * rows that existed when it began, its own row among them (when the filters match it).
 */
export async function exportAudit(ctx: Ctx, scope: AuditScope, format: ExportFormat, filters: AuditFilters, batchSize = EXPORT_BATCH): Promise<AuditExport> {
  const where = await auditWhere(ctx.db, scope, filters);
  const lastId = await transaction(ctx.db, async (tx) => {
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'audit_export',
      sourceIp: ctx.actor.ip ?? null,
      userAgent: ctx.actor.userAgent ?? null,
      detail: JSON.stringify({ format, filters: givenFilters(filters) }),
    });
    const { audit } = tablesOf(tx);
    return Number((await tx.select({ id: max(audit.id) }).from(audit))[0]?.id ?? 0);
  });
  let after: Position | null = null;
  let done = false;
  const next = async (): Promise<string | null> => {
    if (done) return null;
    const rows = await auditBatch(ctx.db, where, lastId, after, batchSize);
    if (rows.length < batchSize) done = true;
    if (rows.length === 0) return null;
    const last = rows[rows.length - 1]!;
    after = { time: last.time, id: last.id };
    return encodeRows(format, rows.map(auditView));
  };
  const onError = (err: unknown) => ctx.log.error({ err, format }, 'audit export failed while streaming');
  return {
    body: textStream(format === 'csv' ? csvHeader() : '', next, onError),
    contentType: CONTENT_TYPES[format],
    fileName: exportFileName(format, ctx.clock.now()),
  };
}
