import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import type { Deps } from '../deps';
import { isoTime } from '../clock';
import { RetryableError } from '../jobs/errors';
import type { RetryPolicy, TaskHandler } from '../jobs/runner';
import { BlockedTargetError, guardedLookup, hostOf, isBlockedAddress, isLocalName } from './address-guard';
import { contentTypeOf } from './events';
import { deliveryById, updateDelivery, webhookById, type WebhookRow } from './store';

/** The most a webhook may set as its own number of tries. */
export const MAX_ATTEMPTS_LIMIT = 20;

/** What one delivery attempt's error may keep (no answer bodies: they are the receiver's). */
const ERROR_MAX = 500;

/** The sealed secret's additional data: a secret sealed for one webhook does not open for another. */
export const secretAad = (webhookId: number): string => `webhook:${webhookId}`;

/** `sha256=<lowercase hex HMAC-SHA256 of the raw body>` (API.md "Webhooks"). */
export const signatureOf = (secret: string, body: string): string => `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;

/** The runner's policy for the kind: its tries are the most any webhook may ask for; each webhook's own limit is kept by the handler. */
export const webhookRetryPolicy = (deps: Pick<Deps, 'config'>) => (): RetryPolicy => {
  const w = deps.config.webhooks;
  return { maxAttempts: MAX_ATTEMPTS_LIMIT, baseDelayMs: w.retryBaseMs, maxDelayMs: w.retryMaxMs, timeoutMs: 65_000 };
};

const agents = new Map<boolean, Agent>();

/** One connection pool per process and guard setting; under the guard every name is resolved through guardedLookup. */
function agentFor(allowPrivate: boolean): Agent {
  let agent = agents.get(allowPrivate);
  if (!agent) {
    agent = new Agent({ connections: 16, keepAliveTimeout: 4_000, ...(allowPrivate ? {} : { connect: { lookup: guardedLookup() } }) });
    agents.set(allowPrivate, agent);
  }
  return agent;
}

/** Closes the connection pools (shutdown). */
export async function closeWebhookAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.close().catch(() => undefined)));
}

/** Why this URL may not be connected to under the guard, before any connection (literal addresses skip DNS). */
export function literalTargetProblem(url: URL): string | null {
  const host = hostOf(url);
  if (isLocalName(host)) return `${host} is this machine (webhooks.allowPrivateTargets is off)`;
  if (isIP(host) && isBlockedAddress(host)) return `${host} is a private, loopback, link-local or reserved address (webhooks.allowPrivateTargets is off)`;
  return null;
}

export interface AttemptResult {
  ok: boolean;
  responseStatus: number | null;
  error: string | null;
  /** Whether trying again could help (network errors, timeouts, 408, 429, 5xx). */
  retryable: boolean;
  retryAfterMs: number | null;
}

const retryAfterOf = (value: string | string[] | undefined): number | null => {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
};

/** One POST of a delivery's body; never throws. Redirects are not followed. */
export async function attemptDelivery(
  deps: Pick<Deps, 'config' | 'secretBox'>,
  webhook: Pick<WebhookRow, 'id' | 'url' | 'format' | 'secretSealed' | 'timeoutMs'>,
  delivery: { id: number; eventId: string; eventType: string; body: string },
  signal?: AbortSignal,
  dispatcher?: Dispatcher,
): Promise<AttemptResult> {
  let url: URL;
  try {
    url = new URL(webhook.url);
  } catch {
    return { ok: false, responseStatus: null, error: 'the webhook URL is not valid', retryable: false, retryAfterMs: null };
  }
  const allowPrivate = deps.config.webhooks.allowPrivateTargets;
  const problem = allowPrivate ? null : literalTargetProblem(url);
  if (problem) return { ok: false, responseStatus: null, error: problem, retryable: false, retryAfterMs: null };
  const headers: Record<string, string> = {
    'content-type': contentTypeOf(webhook.format),
    'user-agent': 'Wharf-Webhook/1',
    'x-wharf-event-id': delivery.eventId,
    'x-wharf-event-type': delivery.eventType,
    'x-wharf-delivery': String(delivery.id),
  };
  if (webhook.secretSealed) headers['x-wharf-signature'] = signatureOf(deps.secretBox.open(webhook.secretSealed, secretAad(webhook.id)), delivery.body);
  const timeoutMs = webhook.timeoutMs ?? deps.config.webhooks.timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await request(url, {
      method: 'POST',
      headers,
      body: delivery.body,
      dispatcher: dispatcher ?? agentFor(allowPrivate),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // The answer's body is the receiver's business: read (bounded by the timeout) and dropped.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { ok: true, responseStatus: status, error: null, retryable: false, retryAfterMs: null };
    // Tried again: 408, 429 and 5xx. Any other answer (a redirect, 4xx) fails the delivery at once.
    const retryable = status === 408 || status === 429 || status >= 500;
    return { ok: false, responseStatus: status, error: `the endpoint answered ${status}`, retryable, retryAfterMs: retryAfterOf(res.headers['retry-after']) };
  } catch (err) {
    if (err instanceof BlockedTargetError || (err as { cause?: unknown }).cause instanceof BlockedTargetError)
      return { ok: false, responseStatus: null, error: (err instanceof BlockedTargetError ? err : ((err as { cause: BlockedTargetError }).cause)).message, retryable: false, retryAfterMs: null };
    const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
    const timedOut = timeout.aborted || e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
    const what = timedOut ? `no answer within ${timeoutMs} ms` : `${e.cause?.code ?? e.code ?? e.name ?? 'error'}: ${e.cause?.message ?? e.message ?? String(err)}`;
    return { ok: false, responseStatus: null, error: what.slice(0, ERROR_MAX), retryable: true, retryAfterMs: null };
  }
}

/**
 * The jobs module's handler of kind `webhook`: one try of one delivery, its outcome written on the
 * delivery (attempts, answer status, error, status). Throws RetryableError to be tried again
 * (backoff from webhooks.retryBaseMs) until the webhook's own number of tries is used up.
 */
export const webhookHandler = (deps: Deps): TaskHandler => async (task) => {
  const deliveryId = Number(task.payload.deliveryId);
  const delivery = Number.isInteger(deliveryId) ? await deliveryById(deps.db, deliveryId) : undefined;
  if (!delivery) return { status: 'skipped', reason: 'the delivery no longer exists' };
  const webhook = await webhookById(deps.db, delivery.webhookId);
  if (!webhook) return { status: 'skipped', reason: 'the webhook no longer exists' };
  if (!webhook.enabled) {
    await updateDelivery(deps.db, delivery.id, { status: 'failed', error: 'the webhook is disabled' });
    return { status: 'skipped', reason: 'the webhook is disabled' };
  }
  const result = await attemptDelivery(deps, webhook, delivery, task.signal);
  const attempts = delivery.attempts + 1;
  const maxAttempts = Math.min(MAX_ATTEMPTS_LIMIT, webhook.maxAttempts ?? deps.config.webhooks.maxAttempts);
  const now = isoTime(deps.clock.now());
  // Stopped, shut down or the lease lost mid-try: the runner decides what happens to the task; the delivery stays pending.
  if (!result.ok && task.signal.aborted) {
    await updateDelivery(deps.db, delivery.id, { attempts, lastAttemptAt: now, responseStatus: result.responseStatus, error: result.error });
    throw new Error(result.error ?? 'delivery interrupted');
  }
  const again = !result.ok && result.retryable && attempts < maxAttempts;
  await updateDelivery(deps.db, delivery.id, {
    attempts,
    lastAttemptAt: now,
    responseStatus: result.responseStatus,
    error: result.error,
    status: result.ok ? 'succeeded' : again ? 'pending' : 'failed',
    deliveredAt: result.ok ? now : null,
  });
  if (result.ok) return { status: 'succeeded' };
  if (again) throw new RetryableError(result.error ?? 'delivery failed', result.retryAfterMs ?? undefined);
  return { status: 'failed', error: result.error };
};
