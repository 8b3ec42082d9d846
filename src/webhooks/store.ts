import { and, asc, desc, eq, inArray, lt } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';
import type { webhookDeliveries, webhooks } from '../db/schema';

/** Webhooks' SQL: the webhooks of projects and their deliveries. */

export type WebhookRow = typeof webhooks.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** The enabled webhooks of these projects (by name), with their project's name. */
export async function enabledWebhooksOf(db: Tx, projectNames: string[]): Promise<(WebhookRow & { project: string })[]> {
  if (projectNames.length === 0) return [];
  const { webhooks, projects } = tablesOf(db);
  const rows = await db
    .select({ webhook: webhooks, project: projects.name })
    .from(webhooks)
    .innerJoin(projects, eq(projects.id, webhooks.projectId))
    .where(and(eq(webhooks.enabled, true), inArray(projects.name, projectNames)))
    .orderBy(asc(webhooks.id));
  return rows.map((r) => ({ ...r.webhook, project: r.project }));
}

/** Every enabled webhook, with its project's name. */
export async function allEnabledWebhooks(db: Tx): Promise<(WebhookRow & { project: string })[]> {
  const { webhooks, projects } = tablesOf(db);
  const rows = await db
    .select({ webhook: webhooks, project: projects.name })
    .from(webhooks)
    .innerJoin(projects, eq(projects.id, webhooks.projectId))
    .where(eq(webhooks.enabled, true))
    .orderBy(asc(webhooks.id));
  return rows.map((r) => ({ ...r.webhook, project: r.project }));
}

export function webhookById(db: Tx, id: number): Promise<WebhookRow | undefined> {
  const { webhooks } = tablesOf(db);
  return firstRow(db.select().from(webhooks).where(eq(webhooks.id, id)));
}

export async function insertDeliveries(tx: Tx, rows: (typeof webhookDeliveries.$inferInsert)[]): Promise<DeliveryRow[]> {
  if (rows.length === 0) return [];
  const { webhookDeliveries } = tablesOf(tx);
  const made: DeliveryRow[] = [];
  for (let at = 0; at < rows.length; at += 200) made.push(...(await tx.insert(webhookDeliveries).values(rows.slice(at, at + 200)).returning()));
  return made;
}

export function deliveryById(db: Tx, id: number): Promise<DeliveryRow | undefined> {
  const { webhookDeliveries } = tablesOf(db);
  return firstRow(db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)));
}

export async function updateDelivery(tx: Tx, id: number, set: Partial<Omit<DeliveryRow, 'id' | 'webhookId' | 'eventId' | 'eventType' | 'body' | 'createdAt'>>): Promise<void> {
  const { webhookDeliveries } = tablesOf(tx);
  await tx.update(webhookDeliveries).set(set).where(eq(webhookDeliveries.id, id));
}

export async function insertWebhook(tx: Tx, values: typeof webhooks.$inferInsert): Promise<WebhookRow> {
  const { webhooks } = tablesOf(tx);
  return (await firstRow(tx.insert(webhooks).values(values).returning()))!;
}

export function webhookByName(db: Tx, projectId: number, name: string): Promise<WebhookRow | undefined> {
  const { webhooks } = tablesOf(db);
  return firstRow(db.select().from(webhooks).where(and(eq(webhooks.projectId, projectId), eq(webhooks.name, name))));
}

export function webhooksOfProject(db: Tx, projectId: number): Promise<WebhookRow[]> {
  const { webhooks } = tablesOf(db);
  return db.select().from(webhooks).where(eq(webhooks.projectId, projectId)).orderBy(asc(webhooks.name));
}

export async function changeWebhook(tx: Tx, id: number, set: Partial<Omit<WebhookRow, 'id' | 'projectId' | 'createdAt' | 'createdBy'>>): Promise<WebhookRow> {
  const { webhooks } = tablesOf(tx);
  return (await firstRow(tx.update(webhooks).set(set).where(eq(webhooks.id, id)).returning()))!;
}

export async function deleteWebhookRow(tx: Tx, id: number): Promise<void> {
  const { webhooks } = tablesOf(tx);
  await tx.delete(webhooks).where(eq(webhooks.id, id));
}

/** A webhook's deliveries, newest first. */
export function deliveriesOf(db: Tx, webhookId: number, q: { limit: number; before?: number; status?: DeliveryRow['status'] }): Promise<DeliveryRow[]> {
  const { webhookDeliveries: d } = tablesOf(db);
  return db
    .select()
    .from(d)
    .where(and(eq(d.webhookId, webhookId), q.before !== undefined ? lt(d.id, q.before) : undefined, q.status ? eq(d.status, q.status) : undefined))
    .orderBy(desc(d.id))
    .limit(q.limit);
}

/** Deletes up to `batch` deliveries created before `beforeIso`; returns how many. */
export async function purgeDeliveries(db: Tx, beforeIso: string, batch = 5000): Promise<number> {
  const { webhookDeliveries: d } = tablesOf(db);
  const ids = (await db.select({ id: d.id }).from(d).where(lt(d.createdAt, beforeIso)).orderBy(asc(d.id)).limit(batch)).map((r) => r.id);
  if (ids.length === 0) return 0;
  await db.delete(d).where(inArray(d.id, ids));
  return ids.length;
}
