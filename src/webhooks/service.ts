import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Ctx } from '../context';
import { isoTime } from '../clock';
import { transaction } from '../db/transaction';
import { recordAudit } from '../audit/record';
import { managedProject } from '../access/projects';
import { PATH_COMPONENT_RE } from '../access/roles';
import { badRequest, conflict, notFound } from '../errors';
import { hostOf, isBlockedAddress } from './address-guard';
import { EVENT_TYPES, PING_TYPE, WEBHOOK_EVENTS, type WebhookEvent } from './events';
import { newEventId, queueDeliveries, requeueDelivery } from './queue';
import { literalTargetProblem, MAX_ATTEMPTS_LIMIT, secretAad } from './send';
import {
  changeWebhook,
  deleteWebhookRow,
  deliveriesOf,
  deliveryById,
  insertWebhook,
  webhookByName,
  webhooksOfProject,
  type DeliveryRow,
  type WebhookRow,
} from './store';

export const WEBHOOK_NAME_MAX = 64;
export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_SECRET_MIN = 16;
export const WEBHOOK_SECRET_MAX = 256;
export const WEBHOOK_DESCRIPTION_MAX = 1024;
export const WEBHOOK_TIMEOUT_MIN_MS = 100;
export const WEBHOOK_TIMEOUT_MAX_MS = 60_000;
export const WEBHOOKS_PER_PROJECT_MAX = 50;

export interface WebhookView {
  name: string;
  url: string;
  events: WebhookEvent[];
  format: 'cloudevents' | 'default';
  /** The secret itself is never shown after it is set. */
  hasSecret: boolean;
  enabled: boolean;
  maxAttempts: number | null;
  timeoutMs: number | null;
  description: string | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryView {
  id: number;
  event: string;
  eventId: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  responseStatus: number | null;
  error: string | null;
  createdAt: string;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
}

export interface WebhookInput {
  name?: unknown;
  url?: unknown;
  events?: unknown;
  format?: unknown;
  secret?: unknown;
  enabled?: unknown;
  maxAttempts?: unknown;
  timeoutMs?: unknown;
  description?: unknown;
}

export const eventsOf = (row: Pick<WebhookRow, 'events'>): WebhookEvent[] => {
  try {
    const parsed = JSON.parse(row.events) as unknown;
    return Array.isArray(parsed) ? (parsed.filter((e) => (WEBHOOK_EVENTS as readonly unknown[]).includes(e)) as WebhookEvent[]) : [];
  } catch {
    return [];
  }
};

export const webhookView = (row: WebhookRow): WebhookView => ({
  name: row.name,
  url: row.url,
  events: eventsOf(row),
  format: row.format,
  hasSecret: row.secretSealed !== null,
  enabled: row.enabled,
  maxAttempts: row.maxAttempts,
  timeoutMs: row.timeoutMs,
  description: row.description,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

export const deliveryView = (row: DeliveryRow): DeliveryView => ({
  id: row.id,
  event: row.eventType,
  eventId: row.eventId,
  status: row.status,
  attempts: row.attempts,
  responseStatus: row.responseStatus,
  error: row.error,
  createdAt: row.createdAt,
  lastAttemptAt: row.lastAttemptAt,
  deliveredAt: row.deliveredAt,
});

/** The URL as the audit log keeps it: no query string (it may carry a receiver's token). */
const auditUrl = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a URL's form, and under the guard its literal address or local name (no DNS). */
export function urlProblem(value: unknown, allowPrivate: boolean): { key: 'webhook.badUrl' | 'webhook.urlPrivate'; problem: string } | null {
  if (typeof value !== 'string' || value.length === 0) return { key: 'webhook.badUrl', problem: 'not a string' };
  if (value.length > WEBHOOK_URL_MAX) return { key: 'webhook.badUrl', problem: `longer than ${WEBHOOK_URL_MAX} characters` };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { key: 'webhook.badUrl', problem: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { key: 'webhook.badUrl', problem: 'only http and https URLs' };
  if (url.username || url.password) return { key: 'webhook.badUrl', problem: 'no user or password in the URL; use the secret' };
  if (!url.hostname) return { key: 'webhook.badUrl', problem: 'no host' };
  if (url.hash) return { key: 'webhook.badUrl', problem: 'no #fragment' };
  if (!allowPrivate) {
    const literal = literalTargetProblem(url);
    if (literal) return { key: 'webhook.urlPrivate', problem: literal };
  }
  return null;
}

/**
 * Under the guard, a host name that resolves only to blocked addresses is refused when it is
 * saved (the send checks every connection again). A name that does not resolve now is accepted.
 */
async function resolvedProblem(value: string): Promise<string | null> {
  const host = hostOf(new URL(value));
  if (isIP(host)) return null;
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch {
    return null;
  }
  if (addresses.length > 0 && addresses.every((a) => isBlockedAddress(a.address)))
    return `${host} resolves to ${addresses[0]!.address}, a private, loopback, link-local or reserved address (webhooks.allowPrivateTargets is off)`;
  return null;
}

interface Checked {
  name?: string;
  url?: string;
  events?: WebhookEvent[];
  format?: 'cloudevents' | 'default';
  secret?: string | null;
  enabled?: boolean;
  maxAttempts?: number | null;
  timeoutMs?: number | null;
  description?: string | null;
}

/** Checks what is given (all of it on create, any part on update); 400 naming the field. */
async function validate(ctx: Ctx, input: WebhookInput, creating: boolean): Promise<Checked> {
  if (!isRecord(input)) throw badRequest('webhook.badBody');
  const out: Checked = {};
  if (creating || input.name !== undefined) {
    const name = input.name;
    if (typeof name !== 'string' || name.length < 1 || name.length > WEBHOOK_NAME_MAX || !PATH_COMPONENT_RE.test(name)) throw badRequest('webhook.badName', { max: WEBHOOK_NAME_MAX });
    out.name = name;
  }
  const allowPrivate = ctx.config.webhooks.allowPrivateTargets;
  if (creating || input.url !== undefined) {
    const problem = urlProblem(input.url, allowPrivate);
    if (problem) throw badRequest(problem.key, { problem: problem.problem });
    const resolved = allowPrivate ? null : await resolvedProblem(input.url as string);
    if (resolved) throw badRequest('webhook.urlPrivate', { problem: resolved });
    out.url = input.url as string;
  }
  if (creating || input.events !== undefined) {
    const events = input.events;
    const known = WEBHOOK_EVENTS as readonly unknown[];
    if (!Array.isArray(events) || events.length === 0 || events.some((e) => !known.includes(e)) || new Set(events).size !== events.length)
      throw badRequest('webhook.badEvents', { events: WEBHOOK_EVENTS.join(', ') });
    out.events = WEBHOOK_EVENTS.filter((e) => events.includes(e));
  }
  if (input.format !== undefined) {
    if (input.format !== 'cloudevents' && input.format !== 'default') throw badRequest('webhook.badFormat');
    out.format = input.format;
  }
  if (input.secret !== undefined) {
    const secret = input.secret;
    if (secret !== null && (typeof secret !== 'string' || secret.length < WEBHOOK_SECRET_MIN || secret.length > WEBHOOK_SECRET_MAX))
      throw badRequest('webhook.badSecret', { min: WEBHOOK_SECRET_MIN, max: WEBHOOK_SECRET_MAX });
    out.secret = secret === '' ? null : (secret as string | null);
  }
  if (input.enabled !== undefined) {
    if (typeof input.enabled !== 'boolean') throw badRequest('webhook.badEnabled');
    out.enabled = input.enabled;
  }
  if (input.maxAttempts !== undefined) {
    const n = input.maxAttempts;
    if (n !== null && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_ATTEMPTS_LIMIT)) throw badRequest('webhook.badAttempts', { max: MAX_ATTEMPTS_LIMIT });
    out.maxAttempts = n as number | null;
  }
  if (input.timeoutMs !== undefined) {
    const n = input.timeoutMs;
    if (n !== null && (typeof n !== 'number' || !Number.isInteger(n) || n < WEBHOOK_TIMEOUT_MIN_MS || n > WEBHOOK_TIMEOUT_MAX_MS))
      throw badRequest('webhook.badTimeout', { min: WEBHOOK_TIMEOUT_MIN_MS, max: WEBHOOK_TIMEOUT_MAX_MS });
    out.timeoutMs = n as number | null;
  }
  if (input.description !== undefined) {
    const d = input.description;
    if (d !== null && (typeof d !== 'string' || d.length > WEBHOOK_DESCRIPTION_MAX)) throw badRequest('webhook.badDescription', { max: WEBHOOK_DESCRIPTION_MAX });
    out.description = d === '' ? null : (d as string | null);
  }
  return out;
}

async function existing(ctx: Ctx, projectId: number, name: string): Promise<WebhookRow> {
  const row = await webhookByName(ctx.db, projectId, name);
  if (!row) throw notFound('webhook.notFound', { name });
  return row;
}

const auditDetail = (row: WebhookRow, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: row.name, url: auditUrl(row.url), events: eventsOf(row), format: row.format, enabled: row.enabled, hasSecret: row.secretSealed !== null, ...extra });

/** A project's webhooks (projectAdmin or system admin: the URLs may carry a receiver's token). */
export async function listWebhooks(ctx: Ctx, projectName: string): Promise<WebhookView[]> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  return (await webhooksOfProject(ctx.db, project.id)).map(webhookView);
}

export async function getWebhook(ctx: Ctx, projectName: string, name: string): Promise<WebhookView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  return webhookView(await existing(ctx, project.id, name));
}

/** Creates a webhook; the secret is sealed under the new row's id. Audited `webhook_create`. */
export async function createWebhook(ctx: Ctx, projectName: string, input: WebhookInput): Promise<WebhookView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const v = await validate(ctx, input, true);
  const at = isoTime(ctx.clock.now());
  const row = await transaction(ctx.db, async (tx) => {
    if (await webhookByName(tx, project.id, v.name!)) throw conflict('webhook.exists', { name: v.name! });
    if ((await webhooksOfProject(tx, project.id)).length >= WEBHOOKS_PER_PROJECT_MAX) throw conflict('webhook.tooMany', { max: WEBHOOKS_PER_PROJECT_MAX });
    const made = await insertWebhook(tx, {
      projectId: project.id,
      name: v.name!,
      url: v.url!,
      events: JSON.stringify(v.events),
      format: v.format ?? 'cloudevents',
      enabled: v.enabled ?? true,
      maxAttempts: v.maxAttempts ?? null,
      timeoutMs: v.timeoutMs ?? null,
      description: v.description ?? null,
      createdBy: ctx.actor.username,
      createdAt: at,
      updatedAt: at,
    });
    const sealed = v.secret ? await changeWebhook(tx, made.id, { secretSealed: ctx.deps.secretBox.seal(v.secret, secretAad(made.id)) }) : made;
    await recordAudit(tx, { time: at, username: ctx.actor.username, action: 'webhook_create', resourceType: 'webhook', resource: `${project.name}/${made.name}`, project: project.name, sourceIp: ctx.actor.ip ?? null, userAgent: ctx.actor.userAgent ?? null, detail: auditDetail(sealed) });
    return sealed;
  });
  return webhookView(row);
}

/** Changes the fields given; `secret: null` removes the secret. Audited `webhook_update`. */
export async function updateWebhook(ctx: Ctx, projectName: string, name: string, input: WebhookInput): Promise<WebhookView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const v = await validate(ctx, input, false);
  const at = isoTime(ctx.clock.now());
  const row = await transaction(ctx.db, async (tx) => {
    const current = await existing({ ...ctx, db: tx }, project.id, name);
    if (v.name !== undefined && v.name !== current.name && (await webhookByName(tx, project.id, v.name))) throw conflict('webhook.exists', { name: v.name });
    const changed = await changeWebhook(tx, current.id, {
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.url !== undefined ? { url: v.url } : {}),
      ...(v.events !== undefined ? { events: JSON.stringify(v.events) } : {}),
      ...(v.format !== undefined ? { format: v.format } : {}),
      ...(v.enabled !== undefined ? { enabled: v.enabled } : {}),
      ...(v.maxAttempts !== undefined ? { maxAttempts: v.maxAttempts } : {}),
      ...(v.timeoutMs !== undefined ? { timeoutMs: v.timeoutMs } : {}),
      ...(v.description !== undefined ? { description: v.description } : {}),
      ...(v.secret !== undefined ? { secretSealed: v.secret === null ? null : ctx.deps.secretBox.seal(v.secret, secretAad(current.id)) } : {}),
      updatedAt: at,
    });
    await recordAudit(tx, {
      time: at,
      username: ctx.actor.username,
      action: 'webhook_update',
      resourceType: 'webhook',
      resource: `${project.name}/${changed.name}`,
      project: project.name,
      sourceIp: ctx.actor.ip ?? null, userAgent: ctx.actor.userAgent ?? null,
      detail: auditDetail(changed, v.secret !== undefined ? { secretChanged: true } : {}),
    });
    return changed;
  });
  return webhookView(row);
}

/** Deletes a webhook with its deliveries (pending ones are not sent). Audited `webhook_delete`. */
export async function deleteWebhook(ctx: Ctx, projectName: string, name: string): Promise<void> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const at = isoTime(ctx.clock.now());
  await transaction(ctx.db, async (tx) => {
    const current = await existing({ ...ctx, db: tx }, project.id, name);
    await deleteWebhookRow(tx, current.id);
    await recordAudit(tx, { time: at, username: ctx.actor.username, action: 'webhook_delete', resourceType: 'webhook', resource: `${project.name}/${current.name}`, project: project.name, sourceIp: ctx.actor.ip ?? null, userAgent: ctx.actor.userAgent ?? null, detail: auditDetail(current) });
  });
}

/** A webhook's deliveries, newest first; `before` pages by id. */
export async function listDeliveries(
  ctx: Ctx,
  projectName: string,
  name: string,
  q: { limit: number; before?: number; status?: DeliveryRow['status'] },
): Promise<DeliveryView[]> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const webhook = await existing(ctx, project.id, name);
  return (await deliveriesOf(ctx.db, webhook.id, q)).map(deliveryView);
}

async function ownDelivery(ctx: Ctx, webhook: WebhookRow, id: number): Promise<DeliveryRow> {
  const delivery = await deliveryById(ctx.db, id);
  if (!delivery || delivery.webhookId !== webhook.id) throw notFound('webhook.deliveryNotFound', { id });
  return delivery;
}

/** One delivery with the body it sends. */
export async function getDelivery(ctx: Ctx, projectName: string, name: string, id: number): Promise<DeliveryView & { body: string }> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const webhook = await existing(ctx, project.id, name);
  const delivery = await ownDelivery(ctx, webhook, id);
  return { ...deliveryView(delivery), body: delivery.body };
}

/** Sends a delivery again: the same event id and body, its tries counted afresh. Audited `webhook_redeliver`. */
export async function redeliver(ctx: Ctx, projectName: string, name: string, id: number): Promise<DeliveryView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const webhook = await existing(ctx, project.id, name);
  const at = isoTime(ctx.clock.now());
  await transaction(ctx.db, async (tx) => {
    const delivery = await ownDelivery({ ...ctx, db: tx }, webhook, id);
    if (delivery.status === 'pending') throw conflict('webhook.deliveryPending', { id });
    await requeueDelivery({ ...ctx, db: tx }, webhook, delivery);
    await recordAudit(tx, { time: at, username: ctx.actor.username, action: 'webhook_redeliver', resourceType: 'webhook', resource: `${project.name}/${webhook.name}`, project: project.name, sourceIp: ctx.actor.ip ?? null, userAgent: ctx.actor.userAgent ?? null, detail: JSON.stringify({ delivery: id, eventId: delivery.eventId }) });
  });
  return deliveryView((await deliveryById(ctx.db, id))!);
}

/** Queues a ping event to the webhook now (the page's test-send); whatever it subscribes to. */
export async function testWebhook(ctx: Ctx, projectName: string, name: string): Promise<DeliveryView> {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  const webhook = await existing(ctx, project.id, name);
  const [id] = await transaction(ctx.db, (tx) =>
    queueDeliveries(
      { ...ctx, db: tx },
      [{ webhook, event: { id: newEventId(), type: PING_TYPE, time: isoTime(ctx.clock.now()), subject: project.name, data: { project: project.name, webhook: webhook.name, message: 'a test delivery from Wharf', by: ctx.actor.username } } }],
      'manual',
    ),
  );
  return deliveryView((await deliveryById(ctx.db, id!))!);
}

export { EVENT_TYPES };
