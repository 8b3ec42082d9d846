import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { createExecution } from '../jobs/executions';
import { isoTime } from '../clock';
import { renderBody, type WharfEvent } from './events';
import { insertDeliveries, updateDelivery, type WebhookRow } from './store';

/** The jobs module's kind for webhook deliveries: one task per delivery, payload {deliveryId}. */
export const WEBHOOK_JOB = 'webhook';

/** A new event's id: random, then fixed on its deliveries. */
export const newEventId = (): string => randomUUID();

/**
 * Writes a delivery of each event to each webhook and the jobs that send them (one execution per
 * webhook), in the caller's transaction: nothing is sent before it commits, and a crash after it
 * commits loses nothing (the runner sends what is pending when an instance starts).
 */
export async function queueDeliveries(ctx: Ctx, items: { webhook: Pick<WebhookRow, 'id' | 'name' | 'format'>; event: WharfEvent }[], trigger: 'event' | 'manual' = 'event'): Promise<number[]> {
  if (items.length === 0) return [];
  const createdAt = isoTime(ctx.clock.now());
  const source = ctx.config.publicUrl;
  const made = await insertDeliveries(
    ctx.db,
    items.map(({ webhook, event }) => ({ webhookId: webhook.id, eventId: event.id, eventType: event.type, body: renderBody(webhook.format, event, source), createdAt })),
  );
  const byWebhook = new Map<number, { name: string; ids: number[] }>();
  made.forEach((d, i) => {
    const entry = byWebhook.get(d.webhookId) ?? { name: items[i]!.webhook.name, ids: [] };
    entry.ids.push(d.id);
    byWebhook.set(d.webhookId, entry);
  });
  for (const [webhookId, { name, ids }] of byWebhook)
    await createExecution(ctx, { kind: WEBHOOK_JOB, subjectId: webhookId, subject: name, trigger, concurrency: 4, tasks: ids.map((deliveryId) => ({ payload: { deliveryId } })) });
  return made.map((d) => d.id);
}

/** Puts a finished delivery back to pending (same event id and body, tries counted afresh) and queues a job to send it. */
export async function requeueDelivery(ctx: Ctx, webhook: Pick<WebhookRow, 'id' | 'name'>, delivery: { id: number }): Promise<void> {
  await updateDelivery(ctx.db, delivery.id, { status: 'pending', attempts: 0, error: null, responseStatus: null, deliveredAt: null });
  await createExecution(ctx, { kind: WEBHOOK_JOB, subjectId: webhook.id, subject: webhook.name, trigger: 'manual', concurrency: 1, tasks: [{ payload: { deliveryId: delivery.id } }] });
}
