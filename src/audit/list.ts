import { and, desc, eq, gt, gte, lte, max, or, count, sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { audit, projects, users } from '../db/schema';
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

export interface AuditQuery extends PageRequest {
  project?: string;
  repository?: string;
  username?: string;
  action?: string;
  since?: string;
  until?: string;
}

/** The id of the row that recorded the latest creation of a user or project of this name (0 when there is none). */
function creationRowId(db: Tx, action: 'user_create' | 'project_create', name: string): number {
  return db.select({ id: max(audit.id) }).from(audit).where(and(eq(audit.action, action), eq(audit.resource, name))).get()?.id ?? 0;
}

/**
 * Rows from a user's or project's creation on: a re-used name must not show its predecessor's
 * rows. Times share one format (ISO 8601, milliseconds, Z), so they compare as text; within the
 * creation's own millisecond the creation row's id tells the predecessor's rows from the new ones.
 */
function since(db: Tx, createdAt: string, action: 'user_create' | 'project_create', name: string): SQL {
  return or(gt(audit.time, createdAt), and(eq(audit.time, createdAt), gte(audit.id, creationRowId(db, action, name))))!;
}

/**
 * Audit rows the principal may read: everything for system admins; otherwise the rows of projects
 * they are a member of and their own, each from the project's or their own creation on.
 */
export function listAudit(db: Tx, principal: Principal & { kind: 'user' }, q: AuditQuery) {
  const conditions: (SQL | undefined)[] = [];
  if (!principal.admin) {
    const me = db.select({ createdAt: users.createdAt }).from(users).where(eq(users.id, principal.id)).get();
    const mine = db
      .select({ name: projects.name, createdAt: projects.createdAt })
      .from(projects)
      .where(memberOfProject(db, principal.id))
      .all();
    conditions.push(
      or(
        me ? and(eq(audit.username, principal.username), since(db, me.createdAt, 'user_create', principal.username)) : undefined,
        ...mine.map((p) => and(eq(audit.project, p.name), since(db, p.createdAt, 'project_create', p.name))),
      ) ?? sql`0`,
    );
  }
  if (q.project) conditions.push(eq(audit.project, q.project));
  if (q.repository) conditions.push(eq(audit.repository, q.repository));
  if (q.username) conditions.push(eq(audit.username, q.username));
  if (q.action) conditions.push(eq(audit.action, q.action));
  if (q.since) conditions.push(gte(audit.time, new Date(q.since).toISOString()));
  if (q.until) conditions.push(lte(audit.time, new Date(q.until).toISOString()));
  const where = and(...conditions);
  const { items, total } = readPage(
    db.select().from(audit).where(where).orderBy(desc(audit.time), desc(audit.id)),
    db.select({ n: count() }).from(audit).where(where),
    q,
  );
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
