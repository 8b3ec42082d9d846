import { transaction } from '../db/transaction';
import { inArray, lt, lte } from 'drizzle-orm';
import { isoTime, type Clock } from '../clock';
import type { Db } from '../db/open';
import { rowsChanged, tablesOf } from '../db/engine';
import type { Log } from '../log';

/** The settings row that holds when any instance last claimed the audit purge. */
export const AUDIT_PURGE_SETTING = 'audit.lastPurgeAt';
export const AUDIT_PURGE_EVERY_MS = 60 * 60_000;
/** How often an instance asks whether a purge is due; the claim in the database decides. */
const CHECK_EVERY_MS = 5 * 60_000;
const DAY_MS = 24 * 60 * 60_000;

export interface AuditRetentionDeps {
  db: Db;
  clock: Clock;
  log: Log;
  retentionDays: number;
}

/**
 * Takes the next purge for this instance when the last one (by any instance sharing the database)
 * is at least `everyMs` old. The conditional upsert is atomic, so of two instances asking at once
 * exactly one gets true.
 */
export async function claimAuditPurge(db: Db, nowMs: number, everyMs = AUDIT_PURGE_EVERY_MS): Promise<boolean> {
  const { settings } = tablesOf(db);
  const now = isoTime(nowMs);
  return (
    rowsChanged(
      await db
        .insert(settings)
        .values({ key: AUDIT_PURGE_SETTING, value: now })
        .onConflictDoUpdate({ target: settings.key, set: { value: now }, setWhere: lte(settings.value, isoTime(nowMs - everyMs)) }),
    ) === 1
  );
}

/**
 * Deletes audit rows older than the retention, a batch per transaction so the write lock is never
 * held for long; other writers get their turn between batches. Returns how many rows went.
 */
export async function purgeExpiredAudit(deps: AuditRetentionDeps, opts: { batchSize?: number; stopped?: () => boolean } = {}): Promise<number> {
  if (deps.retentionDays <= 0) return 0;
  const batchSize = opts.batchSize ?? 1000;
  const { audit } = tablesOf(deps.db);
  const cutoff = isoTime(deps.clock.now() - deps.retentionDays * DAY_MS);
  let deleted = 0;
  for (;;) {
    const n = await transaction(
      deps.db,
      async (tx) =>
        rowsChanged(
          await tx
            .delete(audit)
            .where(inArray(audit.id, tx.select({ id: audit.id }).from(audit).where(lt(audit.time, cutoff)).orderBy(audit.time).limit(batchSize))),
        ),
    );
    deleted += n;
    if (n < batchSize || opts.stopped?.()) return deleted;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Purges expired audit rows about hourly (whichever instance claims it); stop() waits for a running purge. */
export function scheduleAuditRetention(deps: AuditRetentionDeps, checkEveryMs = CHECK_EVERY_MS): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> | null = null;
  const purgeIfDue = async () => {
    try {
      if (!await claimAuditPurge(deps.db, deps.clock.now())) return;
      const deleted = await purgeExpiredAudit(deps, { stopped: () => stopped });
      if (deleted > 0) deps.log.info({ deleted, retentionDays: deps.retentionDays }, 'audit rows past their retention purged');
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, code: (err as { code?: string }).code }, 'audit purge failed; the next one tries again');
    }
  };
  const tick = () => {
    if (stopped || running || deps.retentionDays <= 0) return;
    const run = purgeIfDue().finally(() => {
      if (running === run) running = null;
    });
    running = run;
  };
  tick();
  const timer = setInterval(tick, checkEveryMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
