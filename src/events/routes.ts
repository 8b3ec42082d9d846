import { Hono, type HonoRequest } from 'hono';
import { AppError } from '../errors';
import type { AppEnv } from '../http/env';
import { applyEvents } from './apply';
import { parseEnvelope } from './envelope';

/** Envelopes are a few KB; anything past this is not one. */
const MAX_ENVELOPE_BYTES = 1024 * 1024;

/** Beyond this the rest of an oversized body is not even read: the connection is closed instead. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Reads at most `limit` bytes; null when the body is larger. The rest of a larger body is read
 * and thrown away (up to MAX_DRAIN_BYTES), so the sender gets a clean answer on the same connection.
 */
async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<{ bytes: Buffer | null; drained: boolean }> {
  if (!body) return { bytes: Buffer.alloc(0), drained: true };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: size > limit ? null : Buffer.concat(chunks), drained: true };
    size += value.byteLength;
    if (size > MAX_DRAIN_BYTES) {
      await reader.cancel();
      return { bytes: null, drained: false };
    }
    if (size <= limit) chunks.push(value);
    else chunks.length = 0;
  }
}

/**
 * The envelope's bytes, as readLimited gives them. A body whose declared length is within the
 * limit is exactly that long, so it is read whole on the server's direct path (no web stream).
 */
async function readEnvelope(req: HonoRequest): Promise<{ bytes: Buffer | null; drained: boolean }> {
  const length = req.header('content-length');
  if (length !== undefined && /^\d+$/.test(length) && Number(length) <= MAX_ENVELOPE_BYTES && req.header('transfer-encoding') === undefined)
    return { bytes: Buffer.from(await req.arrayBuffer()), drained: true };
  return readLimited(req.raw.body, MAX_ENVELOPE_BYTES);
}

/**
 * The registry's webhook. Once the secret is right it answers 200 for any input: the registry
 * retries a failed delivery forever and blocks every later event behind it, so invalid input is
 * logged, counted and dropped instead of refused. Only a full disk gets 503 (see onError): then
 * the retry is wanted, and the delivery lands once there is space.
 */
export function notificationRoutes() {
  const app = new Hono<AppEnv>();
  app.post('/', async (c) => {
    const { db, log, metrics, clock, config, details } = c.var.deps;
    if (!c.var.deps.notificationSecrets.accepts(c.req.header('authorization')))
      throw new AppError(401, 'unauthorized', 'missing or wrong notification secret');
    const { bytes: raw, drained } = await readEnvelope(c.req);
    let body: unknown;
    if (raw === null) {
      log.warn('notification body over 1 MiB dropped');
      metrics.eventsReceived.inc({ action: 'unknown', outcome: 'rejected' });
      return c.json({ applied: 0, duplicates: 0, ignored: 0, rejected: 1 }, 200, drained ? {} : { Connection: 'close' });
    }
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      log.warn({ bytes: raw.length }, 'notification body is not JSON; dropped');
      metrics.eventsReceived.inc({ action: 'unknown', outcome: 'rejected' });
      return c.json({ applied: 0, duplicates: 0, ignored: 0, rejected: 1 }, 200);
    }
    const parsed = parseEnvelope(body);
    for (const r of parsed.rejected) {
      log.warn({ eventId: r.id, reason: r.reason }, 'registry event rejected');
      metrics.eventsReceived.inc({ action: 'unknown', outcome: 'rejected' });
    }
    if (parsed.ignored > 0) metrics.eventsReceived.inc({ action: 'blob', outcome: 'ignored' }, parsed.ignored);
    const result = await applyEvents(db, parsed.events, {
      defaultProject: config.defaultProject.name,
      nowMs: clock.now(),
      tokenLifetimeSeconds: config.token.expiresIn,
    });
    const failedIds = new Set(result.failed.map((f) => f.id));
    for (const f of result.failed) log.error({ eventId: f.id, reason: f.reason }, 'registry event could not be applied');
    for (const e of parsed.events)
      metrics.eventsReceived.inc({ action: e.action, outcome: failedIds.has(e.id) ? 'failed' : 'received' });
    if (result.duplicates > 0) metrics.eventsReceived.inc({ action: 'any', outcome: 'duplicate' }, result.duplicates);
    details.enqueue(result.fetch);
    return c.json(
      {
        applied: result.applied,
        duplicates: result.duplicates,
        ignored: parsed.ignored,
        rejected: parsed.rejected.length + result.failed.length,
      },
      200,
    );
  });
  return app;
}
