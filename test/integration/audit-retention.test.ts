import { asc, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/record';
import { AUDIT_PURGE_SETTING, claimAuditPurge, purgeExpiredAudit, scheduleAuditRetention } from '../../src/audit/retention';
import { isoTime } from '../../src/clock';
import { resolveConfig } from '../../src/config/load';
import { openConfiguredDatabase } from '../../src/db/connect';
import type { OpenDb } from '../../src/db/open';
import { firstRow } from '../../src/db/engine';
import { audit, settings } from '../support/tables';
import { createLog } from '../../src/log';
import { startAppInstance, type AppInstance } from '../support/instance';
import { waitFor } from '../support/wait';

/** Audit retention: rows past `audit.retentionDays` go, in batches, once per hour across instances. */

const DAY = 24 * 60 * 60_000;
const HOUR = 60 * 60_000;
const log = createLog('silent');

describe('audit retention', () => {
  let inst: AppInstance;
  let second: OpenDb;
  const db = () => inst.instance.deps.db;
  const now = Date.parse('2030-06-15T12:00:00.000Z');

  beforeAll(async () => {
    inst = await startAppInstance('wharf-retention-');
    // A second connection to the same database, as a second Wharf instance would have.
    second = await openConfiguredDatabase(inst.instance.deps.config);
  });
  afterAll(async () => {
    await second?.close();
    await inst?.stop();
  });

  const seed = async (times: number[]) => {
    await db().delete(audit);
    for (const t of times) await recordAudit(db(), { username: 'seed', action: 'login', time: isoTime(t) });
  };
  const remaining = async () => (await db().select({ time: audit.time }).from(audit).orderBy(asc(audit.time))).map((r) => r.time);

  it('deletes rows older than retentionDays, in batches, and keeps the rest', async () => {
    const old = Array.from({ length: 25 }, (_, i) => now - 91 * DAY - i * 1000);
    const edge = now - 90 * DAY;
    const young = [now - 89 * DAY, now - DAY, now];
    await seed([...old, edge, ...young]);
    const deleted = await purgeExpiredAudit({ db: db(), clock: { now: () => now }, log, retentionDays: 90 }, { batchSize: 7 });
    expect(deleted).toBe(25);
    expect((await remaining())).toEqual([edge, ...young].map(isoTime));
  });

  it('keeps everything with retentionDays 0', async () => {
    await seed([now - 3650 * DAY, now]);
    expect(await purgeExpiredAudit({ db: db(), clock: { now: () => now }, log, retentionDays: 0 })).toBe(0);
    expect((await remaining())).toHaveLength(2);
  });

  it('one purge per hour across instances: the claim in the settings table goes to exactly one', async () => {
    await db().delete(settings).where(eq(settings.key, AUDIT_PURGE_SETTING));
    const claims = [await claimAuditPurge(db(), now), await claimAuditPurge(second.db, now)];
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect((await firstRow(db().select().from(settings).where(eq(settings.key, AUDIT_PURGE_SETTING))))!.value).toBe(isoTime(now));
    expect((await claimAuditPurge(second.db, now + HOUR - 1))).toBe(false);
    expect((await claimAuditPurge(db(), now + HOUR - 1))).toBe(false);
    expect([await claimAuditPurge(second.db, now + HOUR), await claimAuditPurge(db(), now + HOUR)]).toEqual([true, false]);
  });

  it('the schedule purges when due (injected clock), records it in the database, and skips while another instance just did', async () => {
    await db().delete(settings).where(eq(settings.key, AUDIT_PURGE_SETTING));
    await seed([now - 100 * DAY, now - 95 * DAY, now]);
    let clock = now;
    const first = scheduleAuditRetention({ db: db(), clock: { now: () => clock }, log, retentionDays: 90 }, 20);
    await waitFor(async () => (await remaining()).length === 1, 5000, 'the first purge');
    await first.stop();
    expect((await firstRow(second.db.select().from(settings).where(eq(settings.key, AUDIT_PURGE_SETTING))))!.value).toBe(isoTime(now));

    // Another instance starting half an hour later finds the purge done and leaves the new old row alone.
    await seed([now - 100 * DAY, now]);
    clock = now + HOUR / 2;
    const other = scheduleAuditRetention({ db: second.db, clock: { now: () => clock }, log, retentionDays: 90 }, 20);
    await new Promise((r) => setTimeout(r, 200));
    expect((await remaining())).toHaveLength(2);
    clock = now + HOUR;
    await waitFor(async () => (await remaining()).length === 1, 5000, 'the next hour\'s purge');
    await other.stop();
  });

  it('audit.retentionDays defaults to 90 and refuses negative values', async () => {
    expect(resolveConfig({}).audit.retentionDays).toBe(90);
    expect(resolveConfig({ audit: { retentionDays: 0 } }).audit.retentionDays).toBe(0);
    expect(() => resolveConfig({ audit: { retentionDays: -1 } } as never)).toThrow(/audit\.retentionDays/);
    expect((await firstRow(db().select({ n: count() }).from(settings)))!.n).toBeGreaterThanOrEqual(1);
  });
});
