import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock';
import { resolveConfig } from '../../src/config/load';
import type { Ctx } from '../../src/context';
import { openConfiguredDatabase } from '../../src/db/connect';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import type { Deps } from '../../src/deps';
import { AppError } from '../../src/errors';
import { RetryableError } from '../../src/jobs/errors';
import { createExecution, getExecution, listExecutions, listTasks, retryExecution, stopExecution } from '../../src/jobs/executions';
import { JobRunner, type RetryPolicy, type TaskHandler } from '../../src/jobs/runner';
import { createLog } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { jobTasks } from '../support/tables';
import { onPostgres, openTestDatabase, testDatabaseUrl } from '../support/test-database';
import { waitFor } from '../support/wait';

const opened: OpenDb[] = [];
const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
  for (const d of opened.splice(0)) await d.close();
});

const quick: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 30_000 };

/** A clock the test moves by hand: Retry-After and lease expiry without sleeping. */
const handClock = () => {
  let now = Date.parse('2026-03-01T00:00:00Z');
  return { now: () => now, advance: (ms: number) => (now += ms) } satisfies Clock & { advance(ms: number): number };
};

interface Harness {
  db: OpenDb['db'];
  runner: JobRunner;
  ctx: Ctx;
  metrics: ReturnType<typeof createMetrics>;
}

function harness(database: OpenDb, opts: { clock?: Clock; workers?: number; leaseMs?: number } = {}): Harness {
  const config = resolveConfig({ jobs: { workers: opts.workers ?? 8, leaseMs: opts.leaseMs ?? 3000, pollMs: 50 } });
  const clock = opts.clock ?? { now: () => Date.now() };
  const log = createLog('silent');
  const metrics = createMetrics();
  const runner = new JobRunner({ db: database.db, clock, log, metrics, config: config.jobs });
  const deps = { db: database.db, clock, log, config, metrics, jobs: runner } as unknown as Deps;
  const ctx: Ctx = { db: database.db, clock, config, log, principal: { kind: 'anonymous', username: 'anonymous', admin: false }, actor: { username: 'tester' }, deps };
  return { db: database.db, runner, ctx, metrics };
}

async function fresh(opts: Parameters<typeof harness>[1] = {}): Promise<Harness> {
  const database = await openTestDatabase();
  opened.push(database);
  return harness(database, opts);
}

const start = (h: Harness, opts?: { releaseLeftovers?: boolean }) => {
  const s = h.runner.start(opts);
  started.push(s);
  return s;
};

const finished = async (h: Harness, id: number) => {
  await waitFor(async () => (await getExecution(h.db, id))?.finishedAt != null, 20_000, `execution ${id} finished`);
  return (await getExecution(h.db, id))!;
};

const tasksOf = (h: Harness, id: number) => listTasks(h.db, id, { limit: 1000 });

const appError = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
};

const metricValue = async (h: Harness, name: string, labels: string) => {
  const text = await h.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('job runner', () => {
  it('runs a task: the execution goes pending → running → succeeded, listeners hear of it once, metrics count it', async () => {
    const h = await fresh();
    const seen: { payload: unknown; attempt: number; dryRun: boolean }[] = [];
    h.runner.register(
      'echo',
      async (t) => {
        seen.push({ payload: t.payload, attempt: t.attempt, dryRun: t.dryRun });
        t.addBytes(10);
        t.addBytes(32);
        return { status: 'succeeded', reason: 'copied' };
      },
      () => quick,
    );
    const heard: string[] = [];
    h.runner.onFinished('echo', (e) => void heard.push(`${e.id}:${e.status}`));
    start(h);
    const created = await createExecution(h.ctx, { kind: 'echo', subjectId: 7, subject: 'policy-a', trigger: 'manual', dryRun: true, tasks: [{ payload: { tag: 'v1' } }] });
    expect(created).toMatchObject({ kind: 'echo', subjectId: 7, subject: 'policy-a', trigger: 'manual', dryRun: true, createdBy: 'tester', total: 1 });
    const done = await finished(h, created.id);
    expect(done).toMatchObject({ status: 'succeeded', error: null, total: 1, succeeded: 1, pending: 0, running: 0, bytes: 42 });
    expect(done.startedAt).not.toBeNull();
    expect(seen).toEqual([{ payload: { tag: 'v1' }, attempt: 1, dryRun: true }]);
    const [task] = await tasksOf(h, created.id);
    expect(task).toMatchObject({ status: 'succeeded', reason: 'copied', attempts: 1, bytes: 42, error: null, payload: { tag: 'v1' } });
    await waitFor(() => heard.length === 1, 5000, 'listener');
    expect(heard).toEqual([`${created.id}:succeeded`]);
    expect(await metricValue(h, 'wharf_job_tasks_total', 'kind="echo",outcome="succeeded"')).toBe(1);
    expect(await metricValue(h, 'wharf_job_execution_seconds_count', 'kind="echo",status="succeeded"')).toBe(1);
    expect((await listExecutions(h.db, { kind: 'echo', limit: 10 })).map((e) => e.id)).toEqual([created.id]);
  });

  it('a retryable error is tried again and the execution still ends succeeded (attempts 2)', async () => {
    const h = await fresh();
    let calls = 0;
    h.runner.register(
      'flaky',
      async () => {
        if (++calls === 1) throw new RetryableError('503 from the target');
        return { status: 'succeeded' };
      },
      () => quick,
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'flaky', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded', succeeded: 1, failed: 0 });
    expect((await tasksOf(h, e.id))[0]).toMatchObject({ status: 'succeeded', attempts: 2, error: null });
    expect(calls).toBe(2);
    expect(await metricValue(h, 'wharf_job_tasks_total', 'kind="flaky",outcome="retried"')).toBe(1);
  });

  it('a duck-typed retryable error (retryable: true) is retried too', async () => {
    const h = await fresh();
    let calls = 0;
    h.runner.register(
      'duck',
      async () => {
        if (++calls === 1) throw Object.assign(new Error('socket hang up'), { retryable: true });
        return { status: 'succeeded' };
      },
      () => quick,
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'duck', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    expect(calls).toBe(2);
  });

  it("honours Retry-After: the task waits for the other side's delay (hand-moved clock), then runs", async () => {
    const clock = handClock();
    const h = await fresh({ clock });
    let calls = 0;
    h.runner.register(
      'throttled',
      async () => {
        if (++calls === 1) throw new RetryableError('429 Too Many Requests', 60_000);
        return { status: 'succeeded' };
      },
      () => quick,
    );
    start(h);
    const failedAt = clock.now();
    const e = await createExecution(h.ctx, { kind: 'throttled', trigger: 'manual', tasks: [{ payload: {} }] });
    await waitFor(async () => (await tasksOf(h, e.id))[0]?.error === '429 Too Many Requests', 5000, 'first attempt failed');
    const [row] = await h.db.select().from(jobTasks).where(eq(jobTasks.executionId, e.id));
    expect(row!.status).toBe('pending');
    expect(row!.notBefore).toBeGreaterThanOrEqual(failedAt + 60_000);
    // Woken and polled before the delay has passed: nothing is due.
    h.runner.wake();
    await h.runner.idle();
    clock.advance(59_000);
    h.runner.wake();
    await h.runner.idle();
    expect(calls).toBe(1);
    expect((await getExecution(h.db, e.id))!.status).toBe('running');
    clock.advance(1_001);
    h.runner.wake();
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    expect(calls).toBe(2);
  });

  it('a Retry-After longer than a task waits fails the task at once with the reason, instead of keeping the execution open for years', async () => {
    const h = await fresh();
    let calls = 0;
    h.runner.register(
      'throttled-for-ever',
      async () => {
        calls++;
        throw new RetryableError('429 Too Many Requests', 1e14);
      },
      () => quick,
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'throttled-for-ever', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'failed', failed: 1 });
    expect(calls).toBe(1);
    const [task] = await tasksOf(h, e.id);
    expect(task!.error).toMatch(/^429 Too Many Requests \(asked to wait \d+ s, longer than a task waits: retry the execution later\)$/);
  });

  it('a non-retryable error fails the task at once with its message; the execution fails', async () => {
    const h = await fresh();
    let calls = 0;
    h.runner.register(
      'broken',
      async () => {
        calls++;
        throw new Error('manifest unknown at the source');
      },
      () => quick,
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'broken', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'failed', failed: 1 });
    expect((await tasksOf(h, e.id))[0]).toMatchObject({ status: 'failed', attempts: 1, error: 'manifest unknown at the source' });
    expect(calls).toBe(1);
  });

  it('a handler outcome of skipped or failed is kept as it says, with its reason and error', async () => {
    const h = await fresh();
    h.runner.register('said', async (t) => (t.payload.n === 1 ? { status: 'skipped', reason: 'override off' } : { status: 'failed', error: 'target refused the delete' }), () => quick);
    start(h);
    const e = await createExecution(h.ctx, { kind: 'said', trigger: 'manual', tasks: [{ payload: { n: 1 } }, { payload: { n: 2 } }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'failed', skipped: 1, failed: 1 });
    expect((await tasksOf(h, e.id)).map((t) => [t.status, t.reason, t.error])).toEqual([
      ['skipped', 'override off', null],
      ['failed', null, 'target refused the delete'],
    ]);
  });

  it('maxAttempts exhausted → failed with the last error', async () => {
    const h = await fresh();
    let calls = 0;
    h.runner.register(
      'down',
      async () => {
        throw new RetryableError(`connection refused (${++calls})`);
      },
      () => ({ ...quick, maxAttempts: 3 }),
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'down', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'failed' });
    expect((await tasksOf(h, e.id))[0]).toMatchObject({ status: 'failed', attempts: 3, error: 'connection refused (3)' });
    expect(calls).toBe(3);
  });

  it('a task past its timeout is aborted and tried again as a retryable failure', async () => {
    const h = await fresh();
    const signals: AbortSignal[] = [];
    h.runner.register(
      'slow',
      (t) => {
        signals.push(t.signal);
        if (t.attempt === 1) return new Promise(() => {});
        return Promise.resolve({ status: 'succeeded' as const });
      },
      () => ({ ...quick, timeoutMs: 100 }),
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'slow', trigger: 'manual', tasks: [{ payload: {} }] });
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    expect(signals[0]!.aborted).toBe(true);
    expect((await tasksOf(h, e.id))[0]).toMatchObject({ attempts: 2 });
  });

  it("never runs more handlers than the execution's concurrency, nor than the instance's workers", async () => {
    const h = await fresh({ workers: 3 });
    const now = { one: 0, all: 0 };
    const most = { one: 0, all: 0 };
    const handler: TaskHandler = async (t) => {
      const one = t.payload.execution === 'one';
      if (one) most.one = Math.max(most.one, ++now.one);
      most.all = Math.max(most.all, ++now.all);
      await new Promise((r) => setTimeout(r, 15));
      if (one) now.one--;
      now.all--;
      return { status: 'succeeded' };
    };
    h.runner.register('bounded', handler, () => quick);
    start(h);
    const one = await createExecution(h.ctx, { kind: 'bounded', trigger: 'manual', concurrency: 2, tasks: Array.from({ length: 12 }, () => ({ payload: { execution: 'one' } })) });
    expect(await finished(h, one.id)).toMatchObject({ status: 'succeeded', succeeded: 12 });
    expect(most.one).toBe(2);
    const a = await createExecution(h.ctx, { kind: 'bounded', trigger: 'manual', concurrency: 5, tasks: Array.from({ length: 12 }, () => ({ payload: {} })) });
    const b = await createExecution(h.ctx, { kind: 'bounded', trigger: 'manual', concurrency: 5, tasks: Array.from({ length: 12 }, () => ({ payload: {} })) });
    await finished(h, a.id);
    await finished(h, b.id);
    expect(most.all).toBe(3);
  });

  it('stop aborts a running handler (its task ends stopped) and stops the pending tasks; a finished execution cannot be stopped', async () => {
    const h = await fresh();
    let running!: () => void;
    const isRunning = new Promise<void>((r) => (running = r));
    const signals: AbortSignal[] = [];
    h.runner.register(
      'long',
      (t) => {
        signals.push(t.signal);
        running();
        return new Promise((_, reject) => t.signal.addEventListener('abort', () => reject(t.signal.reason as Error)));
      },
      () => quick,
    );
    start(h);
    const e = await createExecution(h.ctx, { kind: 'long', trigger: 'manual', concurrency: 1, tasks: [{ payload: { n: 1 } }, { payload: { n: 2 } }, { payload: { n: 3 } }] });
    await isRunning;
    const stopped = await stopExecution(h.ctx, e.id);
    expect(stopped).toMatchObject({ status: 'stopped', stopped: 3, pending: 0, running: 0 });
    expect(stopped.finishedAt).not.toBeNull();
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect((await tasksOf(h, e.id)).map((t) => t.status)).toEqual(['stopped', 'stopped', 'stopped']);
    const again = await appError(stopExecution(h.ctx, e.id));
    expect([again.status, again.key]).toEqual([409, 'execution.finished']);
    const missing = await appError(stopExecution(h.ctx, 999_999));
    expect([missing.status, missing.key]).toEqual([404, 'execution.notFound']);
  });

  it('retry runs only the failed (and stopped) tasks again and the execution ends succeeded; refused while unfinished or with nothing to retry', async () => {
    const h = await fresh();
    const calls: number[] = [];
    let healed = false;
    h.runner.register(
      'partly',
      async (t) => {
        calls.push(t.payload.n as number);
        if (t.payload.n === 2 && !healed) throw new Error('target answered 403');
        return { status: 'succeeded' };
      },
      () => quick,
    );
    h.runner.register('never-claimed', async () => ({ status: 'succeeded' }), () => quick, { claimWhile: () => false });
    start(h);
    const waiting = await createExecution(h.ctx, { kind: 'never-claimed', trigger: 'manual', tasks: [{ payload: {} }] });
    const busy = await appError(retryExecution(h.ctx, waiting.id));
    expect([busy.status, busy.key]).toEqual([409, 'execution.running']);
    expect((await appError(retryExecution(h.ctx, 999_999))).key).toBe('execution.notFound');

    const e = await createExecution(h.ctx, { kind: 'partly', trigger: 'manual', tasks: [1, 2, 3].map((n) => ({ payload: { n } })) });
    expect(await finished(h, e.id)).toMatchObject({ status: 'failed', succeeded: 2, failed: 1 });
    expect([...calls].sort()).toEqual([1, 2, 3]);
    healed = true;
    const retried = await retryExecution(h.ctx, e.id);
    expect(retried.finishedAt).toBeNull();
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded', succeeded: 3, failed: 0 });
    expect([...calls].sort()).toEqual([1, 2, 2, 3]);
    expect((await tasksOf(h, e.id)).map((t) => [t.status, t.attempts, t.error])).toEqual([
      ['succeeded', 1, null],
      ['succeeded', 1, null],
      ['succeeded', 1, null],
    ]);
    const nothing = await appError(retryExecution(h.ctx, e.id));
    expect([nothing.status, nothing.key]).toEqual([409, 'execution.nothingToRetry']);
  });

  it("a crashed worker's task (its lease passed) is claimed again and resumes from the saved checkpoint", async () => {
    const clock = handClock();
    const h = await fresh({ clock, leaseMs: 30_000 });
    const e = await createExecution(h.ctx, { kind: 'resumable', trigger: 'manual', tasks: [{ payload: { blob: 'sha256:a' } }] });
    // What a worker that died mid-copy leaves: running, its lease, one attempt, a checkpoint.
    await h.db
      .update(jobTasks)
      .set({ status: 'running', leaseOwner: 'gone-host/1/dead', lockedUntil: clock.now() + 30_000, attempts: 1, checkpoint: JSON.stringify({ offset: 5 }) })
      .where(eq(jobTasks.executionId, e.id));
    const got: { checkpoint: unknown; attempt: number }[] = [];
    h.runner.register(
      'resumable',
      async (t) => {
        got.push({ checkpoint: t.checkpoint, attempt: t.attempt });
        await t.saveCheckpoint({ offset: 9 });
        return { status: 'succeeded' };
      },
      () => quick,
    );
    start(h, { releaseLeftovers: false });
    h.runner.wake();
    await h.runner.idle();
    expect(got).toEqual([]); // the lease has not passed: the task is still the other worker's
    clock.advance(30_001);
    h.runner.wake();
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    expect(got).toEqual([{ checkpoint: { offset: 5 }, attempt: 2 }]);
    const [row] = await h.db.select().from(jobTasks).where(eq(jobTasks.executionId, e.id));
    expect(JSON.parse(row!.checkpoint!)).toEqual({ offset: 9 });
  });

  it.skipIf(onPostgres)('on SQLite, start() releases the leases a crashed run of the one instance left, at once', async () => {
    const h = await fresh();
    const e = await createExecution(h.ctx, { kind: 'left', trigger: 'manual', tasks: [{ payload: {} }] });
    await h.db
      .update(jobTasks)
      .set({ status: 'running', leaseOwner: 'previous-run', lockedUntil: Date.now() + 3_600_000, attempts: 1, checkpoint: '{"step":2}' })
      .where(eq(jobTasks.executionId, e.id));
    const checkpoints: unknown[] = [];
    h.runner.register('left', async (t) => (checkpoints.push(t.checkpoint), { status: 'succeeded' }), () => quick);
    start(h);
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    expect(checkpoints).toEqual([{ step: 2 }]);
  });

  it('an execution whose last task ended just before a crash (never settled) is finished by the next poll, failed when a task failed', async () => {
    const h = await fresh();
    h.runner.register('settled-late', async () => ({ status: 'succeeded' }), () => quick);
    const ok = await createExecution(h.ctx, { kind: 'settled-late', trigger: 'manual', tasks: [{ payload: {} }, { payload: {} }] });
    const bad = await createExecution(h.ctx, { kind: 'settled-late', trigger: 'manual', tasks: [{ payload: {} }] });
    // What a worker that died between ending its task and settling the execution leaves.
    const at = new Date().toISOString();
    await h.db.update(jobTasks).set({ status: 'succeeded', attempts: 1, startedAt: at, finishedAt: at }).where(eq(jobTasks.executionId, ok.id));
    await h.db.update(jobTasks).set({ status: 'failed', attempts: 1, error: 'gone', startedAt: at, finishedAt: at }).where(eq(jobTasks.executionId, bad.id));
    start(h);
    expect(await finished(h, ok.id)).toMatchObject({ status: 'succeeded', succeeded: 2 });
    expect(await finished(h, bad.id)).toMatchObject({ status: 'failed', failed: 1 });
  });

  it('creates 10,000 tasks in one call, listed in id order page by page; executions with nothing to run finish at once', async () => {
    const h = await fresh();
    const e = await createExecution(h.ctx, {
      kind: 'bulk',
      trigger: 'creation',
      tasks: Array.from({ length: 10_000 }, (_, n) => ({ payload: { repository: 'team/app', tag: `t${n}` }, ...(n % 10 === 0 ? { status: 'skipped' as const, reason: 'exists' } : {}) })),
    });
    expect(e).toMatchObject({ status: 'pending', total: 10_000, pending: 9_000, skipped: 1_000 });
    const first = await listTasks(h.db, e.id, { limit: 100 });
    const second = await listTasks(h.db, e.id, { limit: 100, after: first.at(-1)!.id });
    expect(first.map((t) => t.payload.tag)).toEqual(Array.from({ length: 100 }, (_, n) => `t${n}`));
    expect(second[0]!.payload.tag).toBe('t100');
    expect((await listTasks(h.db, e.id, { status: 'skipped', limit: 5 })).map((t) => t.reason)).toEqual(Array(5).fill('exists'));

    const none = await createExecution(h.ctx, { kind: 'bulk', trigger: 'manual', tasks: [] });
    expect(none).toMatchObject({ status: 'succeeded', total: 0 });
    expect(none.finishedAt).not.toBeNull();
    const allSkipped = await createExecution(h.ctx, { kind: 'bulk', trigger: 'manual', tasks: [{ payload: {}, status: 'skipped', reason: 'override off' }] });
    expect(allSkipped).toMatchObject({ status: 'succeeded', skipped: 1 });
    const unplanned = await createExecution(h.ctx, { kind: 'bulk', trigger: 'cron', error: 'the source refused the catalog (401)', tasks: [] });
    expect(unplanned).toMatchObject({ status: 'failed', error: 'the source refused the catalog (401)' });
    expect((await listExecutions(h.db, { kind: 'bulk', limit: 2 })).map((x) => x.id)).toEqual([unplanned.id, allSkipped.id]);
    expect((await listExecutions(h.db, { kind: 'bulk', status: 'failed', limit: 10 })).map((x) => x.id)).toEqual([unplanned.id]);
    expect((await listExecutions(h.db, { kind: 'bulk', limit: 10, before: none.id })).map((x) => x.id)).toEqual([e.id]);
  });

  it("created inside the caller's transaction, an execution commits with it and runs after", async () => {
    const h = await fresh();
    h.runner.register('joined', async () => ({ status: 'succeeded' }), () => quick);
    start(h);
    const e = await transaction(h.db, (tx) => createExecution({ ...h.ctx, db: tx }, { kind: 'joined', trigger: 'manual', tasks: [{ payload: {} }], unlessUnfinished: true }));
    expect(await finished(h, e.id)).toMatchObject({ status: 'succeeded' });
    const none = await transaction(h.db, (tx) => createExecution({ ...h.ctx, db: tx }, { kind: 'joined', trigger: 'manual', tasks: [] }));
    expect(none.status).toBe('succeeded');
  });

  it('unlessUnfinished answers the execution of that kind that is still pending or running instead of a second one', async () => {
    const h = await fresh();
    const first = await createExecution(h.ctx, { kind: 'single', trigger: 'schedule', tasks: [{ payload: {} }], unlessUnfinished: true });
    const second = await createExecution(h.ctx, { kind: 'single', trigger: 'manual', tasks: [{ payload: {} }], unlessUnfinished: true });
    expect(second.id).toBe(first.id);
    h.runner.register('single', async () => ({ status: 'succeeded' }), () => quick);
    start(h);
    await finished(h, first.id);
    const third = await createExecution(h.ctx, { kind: 'single', trigger: 'manual', tasks: [{ payload: {} }], unlessUnfinished: true });
    expect(third.id).not.toBe(first.id);
  });
});

// Several instances on one SQLite file are not a supported setup; on PostgreSQL they are.
describe.skipIf(!onPostgres)('two runners on one PostgreSQL database', () => {
  it('claim each task exactly once between them', async () => {
    const url = await testDatabaseUrl(`jobs-two-runners-${Date.now()}`);
    const config = resolveConfig({ database: { url } });
    const [one, two] = [await openConfiguredDatabase(config), await openConfiguredDatabase(config)];
    opened.push(one, two);
    const a = harness(one, { workers: 4 });
    const b = harness(two, { workers: 4 });
    const calls = new Map<number, number>();
    const by = { a: 0, b: 0 };
    const handler =
      (who: 'a' | 'b'): TaskHandler =>
      async (t) => {
        calls.set(t.id, (calls.get(t.id) ?? 0) + 1);
        by[who]++;
        await new Promise((r) => setTimeout(r, 5));
        return { status: 'succeeded' };
      };
    a.runner.register('shared', handler('a'), () => quick);
    b.runner.register('shared', handler('b'), () => quick);
    start(a);
    start(b);
    const e = await createExecution(a.ctx, { kind: 'shared', trigger: 'manual', concurrency: 8, tasks: Array.from({ length: 300 }, (_, n) => ({ payload: { n } })) });
    b.runner.wake();
    expect(await finished(a, e.id)).toMatchObject({ status: 'succeeded', succeeded: 300 });
    expect(calls.size).toBe(300);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(by.a).toBeGreaterThan(0);
    expect(by.b).toBeGreaterThan(0);
  });
});
