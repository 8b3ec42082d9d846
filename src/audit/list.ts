import { and, desc, eq, gt, gte, lte, max, or, count, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import type { audit as auditTable } from '../db/schema';
import { noRow } from '../db/dialect';
import { firstRow, tablesOf } from '../db/engine';
import { readPage, type PageRequest } from '../db/paged';

/** The unverified address a registry event reported, kept in the row's detail. */
function claimedAddrOf(detail: string | null): string | null {
  if (!detail?.includes('claimedAddr')) return null;
  try {
    const value = (JSON.parse(detail) as { claimedAddr?: unknown }).claimedAddr;
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

export interface AuditQuery extends PageRequest {
  project?: string;
  repository?: string;
  username?: string;
  action?: string;
  since?: string;
  until?: string;
}

/** The id of the row that recorded the latest creation of a user or project of this name (0 when there is none). */
async function creationRowId(db: Tx, action: 'user_create' | 'project_create', name: string): Promise<number> {
  const { audit } = tablesOf(db);
  return (await firstRow(db.select({ id: max(audit.id) }).from(audit).where(and(eq(audit.action, action), eq(audit.resource, name)))))?.id ?? 0;
}

/**
 * Rows from a user's or project's creation on: a re-used name must not show its predecessor's
 * rows. Times share one format (ISO 8601, milliseconds, Z), so they compare as text; within the
 * creation's own millisecond the creation row's id tells the predecessor's rows from the new ones.
 */
async function since(db: Tx, createdAt: string, action: 'user_create' | 'project_create', name: string): Promise<SQL> {
  const { audit } = tablesOf(db);
  return or(gt(audit.time, createdAt), and(eq(audit.time, createdAt), gte(audit.id, await creationRowId(db, action, name))))!;
}

/**
 * Which rows a caller may read: all of them, or their own and those of the projects they are a
 * member of, each from the user's or project's creation on. Who is a member is access's to say.
 */
export type AuditScope =
  | { all: true }
  | { username: string; userCreatedAt: string | null; projects: { name: string; createdAt: string }[] };

/** The filters of the audit log's listing and export. */
export type AuditFilters = Omit<AuditQuery, keyof PageRequest>;

/** The where-clause of the rows a scope allows, filtered: one for the listing and the export. */
export async function auditWhere(db: Tx, scope: AuditScope, q: AuditFilters): Promise<SQL | undefined> {
  const { audit } = tablesOf(db);
  const conditions: (SQL | undefined)[] = [];
  if (!('all' in scope)) {
    const visible: (SQL | undefined)[] = [];
    if (scope.userCreatedAt !== null) visible.push(and(eq(audit.username, scope.username), await since(db, scope.userCreatedAt, 'user_create', scope.username)));
    for (const p of scope.projects) visible.push(and(eq(audit.project, p.name), await since(db, p.createdAt, 'project_create', p.name)));
    conditions.push(or(...visible) ?? noRow);
  }
  if (q.project) conditions.push(eq(audit.project, q.project));
  if (q.repository) conditions.push(eq(audit.repository, q.repository));
  if (q.username) conditions.push(eq(audit.username, q.username));
  if (q.action) conditions.push(eq(audit.action, q.action));
  if (q.since) conditions.push(gte(audit.time, new Date(q.since).toISOString()));
  if (q.until) conditions.push(lte(audit.time, new Date(q.until).toISOString()));
  return and(...conditions);
}

/** A stored audit row as the listing and the export show it. */
export function auditView(r: typeof auditTable.$inferSelect) {
  return {
    id: r.id,
    time: r.time,
    username: r.username,
    action: r.action,
    resourceType: r.resourceType,
    resource: r.resource,
    project: r.project,
    repository: r.repository,
    tag: r.tag,
    digest: r.digest,
    mediaType: r.mediaType,
    sourceIp: r.sourceIp,
    claimedAddr: claimedAddrOf(r.detail),
    userAgent: r.userAgent,
    outcome: r.outcome,
    count: r.count,
  };
}
export type AuditView = ReturnType<typeof auditView>;

/** The audit rows a scope allows, filtered by the query, newest first. */
export async function listAudit(db: Tx, scope: AuditScope, q: AuditQuery) {
  const { audit } = tablesOf(db);
  const where = await auditWhere(db, scope, q);
  const { items, total } = await readPage(
    db.select().from(audit).where(where).orderBy(desc(audit.time), desc(audit.id)),
    db.select({ n: count() }).from(audit).where(where),
    q,
  );
  return { items: items.map(auditView), total };
}
