import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { isoTime } from '../../src/clock';
import { contextFor } from '../../src/context';
import { tablesOf } from '../../src/db/engine';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../../src/identity/principal';
import { RECONCILE_JOB } from '../../src/artifacts/reconcile';
import { REPLICATION_JOB } from '../../src/replication/run';
import { IMMUTABLE_RESTORE_JOB } from '../../src/storage/immutability-restore';
import { RETENTION_JOB } from '../../src/storage/retention';
import { endInterruptedGc, GC_JOB, gcWaitMs, startGc, takeGcWindow, type GcResult } from '../../src/storage/gc';
import { holdWindowForGc, pushTokensUntil, readOnlyState, releaseWindowForGc } from '../../src/storage/state';
import type { TokenSource } from '../../src/registry/client';
import type { AccessEntry } from '../../src/token/issue';
import { inProcessApi, type ApiClient } from '../support/api-client';
import { startAppInstance, type AppInstance } from '../support/instance';
import { admin } from '../support/wharf';

/** The read-only window of garbage collection: Wharf's own writers, the GC's wait, its start time, the schedule, stale holds. */

let running: AppInstance;
let api: ApiClient;
const PUSH_SECONDS = 120;

beforeAll(async () => {
  running = await startAppInstance('wharf-gc-window-', 'admin-password-1', { storage: { pushTokenExpiresIn: PUSH_SECONDS } } as never);
  api = inProcessApi(running);
});

afterAll(async () => {
  await running?.stop();
});

const deps = () => running.instance.deps;

const resetPushTokens = async () => {
  const { storageState } = tablesOf(deps().db);
  await deps().db.update(storageState).set({ pushTokensUntilMs: 0 }).where(eq(storageState.id, 1));
};

/** An execution of `kind` with one task in `status`, its lease until `lockedUntil` (epoch ms). */
async function execution(kind: string, task: { status: 'pending' | 'running' | 'succeeded'; lockedUntil: number | null }, finished = false): Promise<number> {
  const { db } = deps();
  const { jobExecutions, jobTasks } = tablesOf(db);
  const at = isoTime(Date.now());
  const [e] = await db
    .insert(jobExecutions)
    .values({ kind, subject: 'test', trigger: 'manual', status: finished ? 'succeeded' : 'running', startedAt: at, ...(finished ? { finishedAt: at } : {}) })
    .returning();
  await db.insert(jobTasks).values({ executionId: e!.id, payload: '{}', status: task.status, leaseOwner: task.status === 'running' ? 'elsewhere' : null, lockedUntil: task.lockedUntil });
  return e!.id;
}

async function finishExecution(id: number): Promise<void> {
  const { db } = deps();
  const { jobExecutions, jobTasks } = tablesOf(db);
  await db.update(jobTasks).set({ status: 'succeeded', leaseOwner: null, lockedUntil: null }).where(eq(jobTasks.executionId, id));
  await db.update(jobExecutions).set({ status: 'succeeded', finishedAt: isoTime(Date.now()) }).where(eq(jobExecutions.id, id));
}

const result = (windowSince: string | null): GcResult => ({
  phase: 'waiting',
  deleteUntagged: false,
  windowSince,
  manifestsDeleted: 0,
  blobsDeleted: 0,
  bytesFreed: 0,
  untaggedDeleted: 0,
  log: '',
});

describe("Wharf's own push and delete tokens", () => {
  const push: AccessEntry[] = [{ type: 'repository', name: 'library/app', actions: ['pull', 'push'] }];
  const del: AccessEntry[] = [{ type: 'repository', name: 'library/app', actions: ['delete'] }];
  const pull: AccessEntry[] = [{ type: 'repository', name: 'library/app', actions: ['pull'] }];
  const sources = (): [string, TokenSource][] => [
    ['replication into this registry', deps().localRegistry.tokenSource!],
    ["Wharf's registry client", (deps().registry as unknown as { opts: { tokenSource: TokenSource } }).opts.tokenSource],
  ];

  it('each one minted records until when it is valid (the push token lifetime)', async () => {
    for (const [name, source] of sources()) {
      for (const access of [push, del]) {
        await resetPushTokens();
        const before = Date.now();
        const minted = await source(access);
        expect(minted.expiresIn, name).toBe(PUSH_SECONDS);
        const until = await pushTokensUntil(deps().db);
        expect(until, name).toBeGreaterThanOrEqual(before + PUSH_SECONDS * 1000);
        expect(until, name).toBeLessThanOrEqual(Date.now() + PUSH_SECONDS * 1000);
      }
      // A pull token does not hold GC back.
      await resetPushTokens();
      await source(pull);
      expect(await pushTokensUntil(deps().db), name).toBe(0);
    }
  });

  it('in the window none is minted: a retryable refusal (a copy resumes after it), nothing noted; pulls still go', async () => {
    expect(await holdWindowForGc(deps().db, 7001, isoTime(Date.now()))).toBe(true);
    try {
      for (const [name, source] of sources()) {
        await resetPushTokens();
        for (const access of [push, del]) {
          const refused = await source(access).then(
            () => null,
            (err: unknown) => err,
          );
          expect(refused, name).toMatchObject({ retryable: true, status: 503, code: 'read_only' });
          expect((refused as Error).message, name).toContain('garbage collection');
        }
        expect(await pushTokensUntil(deps().db), name).toBe(0);
        expect((await source(pull)).token, name).toEqual(expect.any(String));
      }
    } finally {
      await releaseWindowForGc(deps().db, 7001);
    }
  });
});

describe('the wait of garbage collection', () => {
  it('waits while a task that writes into this registry runs on a live lease, not for other kinds or passed leases', async () => {
    await resetPushTokens();
    const base = Date.now();
    const at = (ms: number) => ({ ...deps(), clock: { now: () => ms } });
    // A window open for an hour: the push tokens of before have expired.
    const since = isoTime(base - 3_600_000);
    expect(await gcWaitMs(at(base), since)).toBeLessThanOrEqual(0);
    const other = await execution(RECONCILE_JOB, { status: 'running', lockedUntil: base + 60_000 });
    expect(await gcWaitMs(at(base), since)).toBeLessThanOrEqual(0);
    await finishExecution(other);
    for (const kind of [REPLICATION_JOB, IMMUTABLE_RESTORE_JOB, RETENTION_JOB]) {
      const id = await execution(kind, { status: 'running', lockedUntil: base + 60_000 });
      expect(await gcWaitMs(at(base), since), kind).toBeGreaterThan(0);
      // Its lease has passed (its instance went away): no longer a writer.
      expect(await gcWaitMs(at(base + 61_000), since), kind).toBeLessThanOrEqual(0);
      await finishExecution(id);
      expect(await gcWaitMs(at(base), since), kind).toBeLessThanOrEqual(0);
    }
    // A pending one (refused by the window, waiting for its end) does not hold GC back.
    const waiting = await execution(REPLICATION_JOB, { status: 'pending', lockedUntil: null });
    expect(await gcWaitMs(at(base), since)).toBeLessThanOrEqual(0);
    await finishExecution(waiting);
  });

  it('a run that has to take the window again starts it anew; one that still holds it keeps its start', async () => {
    const t = Date.parse('2030-01-01T00:00:00.000Z');
    const r = result(isoTime(t - 3_600_000));
    const at = (ms: number) => ({ ...deps(), clock: { now: () => ms } });
    try {
      expect(await takeGcWindow(at(t), 7002, r)).toBe(isoTime(t));
      expect(r.windowSince).toBe(isoTime(t));
      expect((await readOnlyState(deps().db)).gcSince).toBe(isoTime(t));
      // Still held (a crash of the process, claimed again): the window has been on since then.
      expect(await takeGcWindow(at(t + 5_000), 7002, r)).toBe(isoTime(t));
      expect((await readOnlyState(deps().db)).gcSince).toBe(isoTime(t));
    } finally {
      await releaseWindowForGc(deps().db, 7002);
    }
  });
});

describe('the GC schedule', () => {
  const audits = async () => {
    const { audit } = tablesOf(deps().db);
    return (await deps().db.select().from(audit).where(eq(audit.action, 'gc_schedule_set'))).length;
  };
  const put = (cron: string | null) => api.call('PUT', '/api/v1/system/gc/schedule', { auth: admin, body: { cron } });

  it('runs at least an hour apart; more often is a 400 that changes nothing', async () => {
    expect((await put('0 3 * * 0')).status).toBe(200);
    const before = (await api.call('GET', '/api/v1/system/gc/schedule', { auth: admin })).body;
    const auditBefore = await audits();
    for (const cron of ['* * * * * *', '* 5 * * * *', '*/5 * * * *', '0,30 * * * *', '0 0,59 3 * * *', '*/30 * * * * *']) {
      const bad = await put(cron);
      expect(bad.status, cron).toBe(400);
      expect(bad.body.error.message, cron).toContain('hour');
    }
    expect((await api.call('GET', '/api/v1/system/gc/schedule', { auth: admin })).body).toEqual(before);
    expect(await audits()).toBe(auditBefore);
    for (const cron of ['0 * * * *', '0 0 */2 * * *', '30 2 * * *']) expect((await put(cron)).status, cron).toBe(200);
    await put(null);
  });
});

describe('a GC hold nobody runs', () => {
  const off = () => api.call('PUT', '/api/v1/system/read-only', { auth: admin, body: { readOnly: false } });

  it('turning the window off releases a hold whose run is over, gone, or not on a live lease; a live run keeps it', async () => {
    const now = Date.now();
    const over = await execution(GC_JOB, { status: 'succeeded', lockedUntil: null }, true);
    const stale = await execution(GC_JOB, { status: 'running', lockedUntil: now - 1_000 });
    for (const id of [7003, over, stale]) {
      expect(await holdWindowForGc(deps().db, id, isoTime(now))).toBe(true);
      const answer = await off();
      expect(answer.status).toBe(200);
      expect(answer.body, String(id)).toMatchObject({ readOnly: false, gc: null });
    }
    await finishExecution(stale);
    const live = await execution(GC_JOB, { status: 'running', lockedUntil: now + 60_000 });
    expect(await holdWindowForGc(deps().db, live, isoTime(now))).toBe(true);
    expect((await off()).body).toMatchObject({ readOnly: true, gc: { executionId: live } });
    await releaseWindowForGc(deps().db, live);
    await finishExecution(live);
  });

  it('the next GC start releases a stale hold', async () => {
    expect(await holdWindowForGc(deps().db, 7004, isoTime(Date.now()))).toBe(true);
    const run = await startGc(contextFor(deps(), SYSTEM_PRINCIPAL, SYSTEM_ACTOR), { dryRun: true, deleteUntagged: false, trigger: 'manual', anywhere: true });
    expect((await readOnlyState(deps().db)).gcExecutionId).toBeNull();
    await finishExecution(run.id);
  });

  it('an interrupted `wharf gc` fails its execution and gives the window back', async () => {
    const id = await execution(GC_JOB, { status: 'pending', lockedUntil: null });
    expect(await holdWindowForGc(deps().db, id, isoTime(Date.now()))).toBe(true);
    await endInterruptedGc(deps(), id, 'interrupted (SIGINT)');
    expect((await readOnlyState(deps().db)).readOnly).toBe(false);
    const e = (await api.call('GET', `/api/v1/system/gc/${id}`, { auth: admin })).body;
    expect(e).toMatchObject({ status: 'failed', finishedAt: expect.any(String) });
    expect(e.error).toContain('interrupted (SIGINT)');
  });
});
