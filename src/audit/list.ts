import { and, desc, eq, gte, lte, or, inArray, count, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { audit, projects } from '../db/schema';
import { memberOfProject } from '../access/projects';
import type { Principal } from '../identity/principal';

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

export interface AuditQuery {
  project?: string;
  repository?: string;
  username?: string;
  action?: string;
  since?: string;
  until?: string;
  page: number;
  pageSize: number;
}

/**
 * Audit rows the principal may read: everything for system admins; otherwise the rows of projects
 * they are a member of, and their own.
 */
export function listAudit(db: Tx, principal: Principal & { kind: 'user' }, q: AuditQuery) {
  const conditions: (SQL | undefined)[] = [];
  if (!principal.admin) {
    const mine = db
      .select({ name: projects.name })
      .from(projects)
      .where(memberOfProject(db, principal.id))
      .all()
      .map((r) => r.name);
    conditions.push(or(eq(audit.username, principal.username), mine.length ? inArray(audit.project, mine) : undefined));
  }
  if (q.project) conditions.push(eq(audit.project, q.project));
  if (q.repository) conditions.push(eq(audit.repository, q.repository));
  if (q.username) conditions.push(eq(audit.username, q.username));
  if (q.action) conditions.push(eq(audit.action, q.action));
  if (q.since) conditions.push(gte(audit.time, new Date(q.since).toISOString()));
  if (q.until) conditions.push(lte(audit.time, new Date(q.until).toISOString()));
  const where = and(...conditions);
  const items = db
    .select()
    .from(audit)
    .where(where)
    .orderBy(desc(audit.time), desc(audit.id))
    .limit(q.pageSize)
    .offset((q.page - 1) * q.pageSize)
    .all();
  const total = db.select({ n: count() }).from(audit).where(where).get()!.n;
  return {
    items: items.map((r) => ({
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
    })),
    total,
  };
}
