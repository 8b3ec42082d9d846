import { createHash } from 'node:crypto';
import type { Deps } from '../deps';
import { contextFor } from '../context';
import { isoTime } from '../clock';
import { transaction } from '../db/transaction';
import type { Scheduled } from '../db/leadership';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../identity/principal';
import { cursorPosition, readAuditAfter, saveCursor, startCursor, type AuditRow } from '../audit/feed';
import { PULL_AUDIT_BUCKET_MS } from '../events/apply';
import { EVENT_TYPES, type WebhookEvent, type WharfEvent } from './events';
import { queueDeliveries } from './queue';
import { eventsOf } from './service';
import { allEnabledWebhooks, enabledWebhooksOf, type WebhookRow } from './store';
import { pullCounts } from './dispatch-store';

export const FEED_CURSOR = 'webhooks';
export const PULLS_CURSOR = 'webhooks.pulls';
const BATCH = 500;
const POLL_MS = 500;
/** Late notifications (the registry's own retries) still land in their window for this long after its fold bucket closed. */
export const PULL_SLACK_MS = 10_000;

/** A UUID-shaped id derived from its parts: the same audit row (or pull window) always gives the same event id. */
export function derivedEventId(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const detailOf = (row: AuditRow): Record<string, unknown> => {
  if (!row.detail) return {};
  try {
    const d = JSON.parse(row.detail) as unknown;
    return typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

/** The event an audit row sends, and to which subscription; null for rows no webhook hears of. */
export function eventOfRow(row: AuditRow): { kind: WebhookEvent; event: WharfEvent } | null {
  if (!row.project || row.outcome !== 'success') return null;
  const base = { id: derivedEventId('audit', row.id), time: row.time };
  const detail = detailOf(row);
  switch (row.action) {
    case 'push':
      if (!row.repository || !row.digest) return null;
      return {
        kind: 'push',
        event: { ...base, type: EVENT_TYPES.push, subject: row.repository, data: { project: row.project, repository: row.repository, tag: row.tag, digest: row.digest, mediaType: row.mediaType, pushedBy: row.username, time: row.time } },
      };
    case 'delete':
    case 'tag_delete':
    case 'image_delete':
    case 'repository_delete':
      if (!row.repository) return null;
      return {
        kind: 'delete',
        event: {
          ...base,
          type: EVENT_TYPES.delete,
          subject: row.repository,
          data: { project: row.project, repository: row.repository, tag: row.tag, digest: row.digest, operation: row.action === 'delete' ? 'registry' : row.action.replace('_delete', ''), deletedBy: row.username, time: row.time },
        },
      };
    case 'replication_run':
      // The row written when a run finishes (the one at its start has no status).
      if (typeof detail.status !== 'string') return null;
      return { kind: 'replication', event: { ...base, type: EVENT_TYPES.replication, subject: row.project, data: { project: row.project, policy: row.resource, ...detail, time: row.time } } };
    case 'retention_run':
      return { kind: 'retention', event: { ...base, type: EVENT_TYPES.retention, subject: row.project, data: { project: row.project, ...detail, time: row.time } } };
    case 'quota_exceeded':
      return { kind: 'quota', event: { ...base, type: EVENT_TYPES.quota, subject: row.project, data: { project: row.project, ...detail, time: row.time } } };
    default:
      return null;
  }
}

/** The start of the pull window holding `ms`. */
export const windowStart = (ms: number, windowMs: number): number => Math.floor(ms / windowMs) * windowMs;
/** Whether every pull of the window [start, start + windowMs) has landed: its fold buckets closed, plus slack. */
export const windowClosed = (start: number, windowMs: number, nowMs: number): boolean => nowMs >= start + windowMs + PULL_AUDIT_BUCKET_MS + PULL_SLACK_MS;

type Hook = WebhookRow & { project: string };
const subscribed = (hook: Hook, kind: WebhookEvent, time: string) => hook.createdAt <= time && eventsOf(hook).includes(kind);

/**
 * Turns the audit log into webhook deliveries on the elected instance: the feed from the cursor
 * 'webhooks' (each row's event, to every enabled webhook of its project that subscribes to it and
 * existed when it happened), and pulls counted per repository and digest over closed windows
 * (cursor 'webhooks.pulls'). Deliveries and the cursor are saved in one transaction: a crash on
 * either side of it loses nothing and sends nothing twice from here.
 */
export class WebhookDispatcher {
  constructor(private readonly deps: Deps) {}

  private ctx() {
    return contextFor(this.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
  }

  /** One batch of the feed; answers how many rows it read. */
  async dispatchFeed(): Promise<number> {
    const { db, clock } = this.deps;
    const position = await startCursor(db, FEED_CURSOR, clock.now());
    const rows = await readAuditAfter(db, position, BATCH);
    if (rows.length === 0) return 0;
    const mapped = rows.map((row) => ({ row, made: eventOfRow(row) })).filter((m) => m.made !== null);
    const projects = [...new Set(mapped.map((m) => m.row.project!))];
    await transaction(db, async (tx) => {
      const hooks = await enabledWebhooksOf(tx, projects);
      const items = mapped.flatMap(({ row, made }) =>
        hooks.filter((h) => h.project === row.project && subscribed(h, made!.kind, row.time)).map((webhook) => ({ webhook, event: made!.event })),
      );
      await queueDeliveries({ ...this.ctx(), db: tx }, items);
      await saveCursor(tx, FEED_CURSOR, rows[rows.length - 1]!.id, clock.now());
    });
    return rows.length;
  }

  /** Sends the pulls of every window that closed since the last one sent (a few windows a call). */
  async dispatchPulls(maxWindows = 5): Promise<void> {
    const { db, clock, config } = this.deps;
    const windowMs = config.webhooks.pullIntervalSeconds * 1000;
    const now = clock.now();
    // Its position is a time (the end of the last window sent); the first time, the current window's start.
    const saved = await cursorPosition(db, PULLS_CURSOR);
    let start = windowStart(saved ?? now, windowMs);
    if (saved === null) await transaction(db, (tx) => saveCursor(tx, PULLS_CURSOR, start, now));
    for (let i = 0; i < maxWindows && windowClosed(start, windowMs, now); i++) {
      const end = start + windowMs;
      const fromIso = isoTime(start);
      const toIso = isoTime(end);
      await transaction(db, async (tx) => {
        const hooks = (await allEnabledWebhooks(tx)).filter((h) => eventsOf(h).includes('pull') && h.createdAt < toIso);
        const counts = await pullCounts(tx, [...new Set(hooks.map((h) => h.project))], fromIso, toIso);
        const items = counts.flatMap((c) =>
          hooks
            .filter((h) => h.project === c.project)
            .map((webhook) => ({
              webhook,
              event: {
                id: derivedEventId('pulls', webhook.id, start, c.repository, c.digest),
                type: EVENT_TYPES.pull,
                time: toIso,
                subject: c.repository,
                data: { project: c.project, repository: c.repository, digest: c.digest, tags: c.tags, count: c.count, windowStart: fromIso, windowEnd: toIso },
              } satisfies WharfEvent,
            })),
        );
        await queueDeliveries({ ...this.ctx(), db: tx }, items);
        await saveCursor(tx, PULLS_CURSOR, end, now);
      });
      start = end;
    }
  }

  /** For leadership.schedule: the feed and the pull windows while this instance leads. */
  scheduler(): Scheduled {
    const log = this.deps.log.child({ component: 'webhook-dispatch' });
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        while ((await this.dispatchFeed()) === BATCH) {
          // a full batch: more is waiting
        }
        await this.dispatchPulls();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'webhook dispatch failed; trying again');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), POLL_MS);
    timer.unref();
    void tick();
    return { stop: () => clearInterval(timer) };
  }
}
