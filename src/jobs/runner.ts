import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isoTime, type Clock } from '../clock';
import type { Config } from '../config/schema';
import { engineOf } from '../db/engine';
import type { Db } from '../db/open';
import type { Log } from '../log';
import type { Metrics } from '../metrics';
import { retryHint } from './errors';
import { getExecution, type ExecutionView } from './executions';
import {
  claimTask,
  endTask,
  executionById,
  markStarted,
  releaseAllLeases,
  renewLease,
  returnTask,
  saveTaskCheckpoint,
  settleExecution,
  stopAbandoned,
  stopWasRequested,
  unsettledExecutions,
  type TaskRow,
} from './store';
import { parsePayload } from './executions';

export interface TaskContext {
  id: number;
  executionId: number;
  payload: Record<string, unknown>;
  checkpoint: unknown | null;
  attempt: number;
  dryRun: boolean;
  /** Aborted on stop, on lease loss, on the task's timeout and on shutdown. */
  signal: AbortSignal;
  /** Persists progress so that a task resumed after a crash or a retry continues from it. */
  saveCheckpoint(value: unknown): Promise<void>;
  /** Bytes moved so far (kept on the task row with the lease renewal). */
  addBytes(n: number): void;
}

export interface TaskOutcome {
  status: 'succeeded' | 'skipped' | 'failed';
  reason?: string | null;
  error?: string | null;
  bytes?: number;
}

export type TaskHandler = (task: TaskContext) => Promise<TaskOutcome>;

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

/**
 * How long a task waits before attempt `attempt + 1`: exponential from baseDelayMs, capped at
 * maxDelayMs, the upper half jittered so that tasks failing together do not return together;
 * never sooner than the other side's Retry-After.
 */
export function retryDelayMs(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, retryAfterMs: number | null = null, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exponential / 2 + (random() * exponential) / 2);
  return Math.max(retryAfterMs ?? 0, jittered);
}

/** The longest Retry-After a task waits for; a longer one fails the task with the reason. */
export const RETRY_AFTER_MAX_MS = 60 * 60_000;

/** Why a running handler's signal was aborted; each ends the task its own way. */
type AbortCause = 'stop' | 'lease' | 'timeout' | 'shutdown';

interface Running {
  executionId: number;
  abort(cause: AbortCause): void;
  /** Resolves once the task's outcome is written. */
  ended: Promise<void>;
}

interface Registration {
  handler: TaskHandler;
  policy: () => RetryPolicy;
  claimWhile?: () => boolean;
}

/** Error text kept on a task row: the first line, bounded. */
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/**
 * One per instance (Deps.jobs). Every instance runs workers (tasks are claimed through leases,
 * so each is run by one); on SQLite, start() first releases the leases a crashed run left.
 */
export class JobRunner {
  /** Who holds a lease: unique per runner, so two runners in one process never share tasks. */
  readonly owner = `${hostname()}/${process.pid}/${randomUUID()}`;
  private readonly kinds = new Map<string, Registration>();
  private readonly listeners = new Map<string, ((execution: ExecutionView) => void | Promise<void>)[]>();
  private readonly running = new Map<number, Running>();
  private readonly inFlight = new Set<Promise<void>>();
  private active = false;
  private pumping = false;
  private pumpAgain = false;
  private poll: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { db: Db; clock: Clock; log: Log; metrics: Metrics; config: Config['jobs'] }) {}

  /** `claimWhile`: this runner takes the kind's tasks only while it answers true (reconcile: while leading). A second call for a kind replaces the first. */
  register(kind: string, handler: TaskHandler, policy: () => RetryPolicy, opts: { claimWhile?: () => boolean } = {}): void {
    this.kinds.set(kind, { handler, policy, claimWhile: opts.claimWhile });
  }

  /** Called when an execution of `kind` finishes (any instance's runner that finished its last task). */
  onFinished(kind: string, listener: (execution: ExecutionView) => void | Promise<void>): void {
    this.listeners.set(kind, [...(this.listeners.get(kind) ?? []), listener]);
  }

  /**
   * Starts claiming. `releaseLeftovers` (default: on SQLite) first puts every running task back to
   * pending; a one-off process beside a running server (the CLI) passes false.
   */
  start(opts: { releaseLeftovers?: boolean } = {}): { stop(): Promise<void> } {
    const release = opts.releaseLeftovers ?? engineOf(this.deps.db) === 'sqlite';
    this.active = true;
    const first = (async () => {
      if (release) {
        const released = await releaseAllLeases(this.deps.db);
        if (released > 0) this.deps.log.info({ released }, 'job tasks left running by the last run are pending again');
      }
    })()
      .catch((err: Error) => this.deps.log.warn({ err: err.message }, 'releasing leftover job leases failed'))
      .then(() => this.pump());
    this.track(first);
    this.poll = setInterval(() => this.tick(), this.deps.config.pollMs);
    this.poll.unref();
    return { stop: () => this.stop() };
  }

  /** Claims at once instead of at the next poll. */
  wake(): void {
    if (this.active) this.track(this.pump());
  }

  /** Aborts this instance's handlers of the execution (a stop) and resolves once they have ended; other instances see it at their next renewal. */
  async abortExecution(executionId: number): Promise<void> {
    const ending: Promise<void>[] = [];
    for (const r of this.running.values()) {
      if (r.executionId !== executionId) continue;
      r.abort('stop');
      ending.push(r.ended);
    }
    await Promise.all(ending);
  }

  /** Finishes the execution if nothing of it is left to run, and tells the kind's listeners (once, on whichever instance finished it). */
  async settle(executionId: number, db: Db = this.deps.db): Promise<void> {
    const row = await settleExecution(db, executionId, isoTime(this.deps.clock.now()));
    if (!row) return;
    const seconds = Math.max(0, (Date.parse(row.finishedAt!) - Date.parse(row.startedAt ?? row.createdAt)) / 1000);
    this.deps.metrics.jobExecutionDuration.observe({ kind: row.kind, status: row.status }, seconds);
    const listeners = this.listeners.get(row.kind) ?? [];
    if (listeners.length === 0) return;
    const view = await getExecution(db, executionId);
    if (!view) return;
    for (const listener of listeners) {
      try {
        await listener(view);
      } catch (err) {
        this.deps.log.warn({ execution: executionId, kind: row.kind, err: errorText(err) }, 'execution finish listener failed');
      }
    }
  }

  /** Resolves once no task of this runner is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** How many handlers of this runner are running now. */
  get busy(): number {
    return this.running.size;
  }

  private async stop(): Promise<void> {
    this.active = false;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const r of this.running.values()) r.abort('shutdown');
    await this.idle();
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private tick(): void {
    const sweep = async () => {
      const now = this.deps.clock.now();
      for (const id of await stopAbandoned(this.deps.db, now, isoTime(now))) await this.settle(id);
      // A crash between a task's end and its execution's settling would leave the execution running for ever.
      for (const id of await unsettledExecutions(this.deps.db)) await this.settle(id);
    };
    this.track(
      sweep()
        .catch((err: Error) => this.deps.log.warn({ err: err.message }, 'sweeping stopped job tasks failed'))
        .then(() => this.pump()),
    );
  }

  /** Claims tasks until the workers are busy or none is due; one claimer per runner at a time. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.active && this.running.size < this.deps.config.workers) {
          const now = this.deps.clock.now();
          const row = await claimTask(this.deps.db, {
            owner: this.owner,
            kinds: [...this.kinds].filter(([, r]) => r.claimWhile?.() ?? true).map(([kind]) => kind),
            now,
            leaseMs: this.deps.config.leaseMs,
            startedAt: isoTime(now),
          });
          if (!row) break;
          this.launch(row);
        }
      } while (this.pumpAgain && this.active);
    } catch (err) {
      this.deps.log.warn({ err: errorText(err) }, 'claiming a job task failed; trying again at the next poll');
    } finally {
      this.pumping = false;
    }
  }

  private launch(row: TaskRow): void {
    const controller = new AbortController();
    let cause: AbortCause | null = null;
    let aborted!: () => void;
    const abortedPromise = new Promise<void>((r) => (aborted = r));
    const abort = (why: AbortCause) => {
      if (cause) return;
      cause = why;
      controller.abort(new Error(`task ${why === 'stop' ? 'stopped' : why === 'lease' ? 'lease lost' : why === 'timeout' ? 'timed out' : 'interrupted by shutdown'}`));
      aborted();
    };
    let ended!: () => void;
    this.running.set(row.id, { executionId: row.executionId, abort, ended: new Promise<void>((r) => (ended = r)) });
    const run = this.run(row, controller.signal, () => cause, abort, abortedPromise)
      .catch((err) => this.deps.log.warn({ task: row.id, err: errorText(err) }, 'job task bookkeeping failed; its lease will pass'))
      .finally(() => {
        this.running.delete(row.id);
        ended();
      })
      .then(() => this.pump());
    this.track(run);
  }

  private async run(row: TaskRow, signal: AbortSignal, causeOf: () => AbortCause | null, abort: (why: AbortCause) => void, abortedPromise: Promise<void>): Promise<void> {
    const { db, clock, config, metrics, log } = this.deps;
    const execution = await executionById(db, row.executionId);
    const registration = execution && this.kinds.get(execution.kind);
    if (!execution || !registration) return;
    if (execution.status === 'pending') await markStarted(db, execution.id, isoTime(clock.now()));
    const policy = registration.policy();
    let bytes = row.bytes;

    const renewal = setInterval(() => {
      void (async () => {
        if (causeOf()) return;
        if (!(await renewLease(db, row.id, this.owner, clock.now() + config.leaseMs, bytes))) abort('lease');
        else if (await stopWasRequested(db, row.executionId)) abort('stop');
      })().catch((err: Error) => log.warn({ task: row.id, err: err.message }, 'job lease renewal failed'));
    }, Math.max(10, Math.floor(config.leaseMs / 3)));
    const timeout = setTimeout(() => abort('timeout'), policy.timeoutMs);

    let checkpoint: unknown = null;
    if (row.checkpoint !== null) {
      try {
        checkpoint = JSON.parse(row.checkpoint);
      } catch {
        checkpoint = null;
      }
    }
    const task: TaskContext = {
      id: row.id,
      executionId: row.executionId,
      payload: parsePayload(row.payload),
      checkpoint,
      attempt: row.attempts,
      dryRun: execution.dryRun,
      signal,
      saveCheckpoint: async (value) => {
        if (!(await saveTaskCheckpoint(db, row.id, this.owner, JSON.stringify(value ?? null)))) {
          abort('lease');
          throw new Error('the task is no longer this worker’s (lease lost or stopped)');
        }
      },
      addBytes: (n) => {
        if (Number.isFinite(n) && n > 0) bytes += n;
      },
    };
    // Settles to a value, never rejects: a handler that ignores its signal is left behind, not awaited.
    const work = Promise.resolve()
      .then(() => registration.handler(task))
      .then(
        (outcome) => ({ outcome, error: null as unknown }),
        (error: unknown) => ({ outcome: null, error }),
      );
    const result = await Promise.race([work, abortedPromise.then(() => null)]);
    clearInterval(renewal);
    clearTimeout(timeout);

    const cause = causeOf();
    const at = isoTime(clock.now());
    const count = (outcome: string) => metrics.jobTasks.inc({ kind: execution.kind, outcome });
    if (cause === 'lease') return;
    if (cause === 'shutdown') {
      await returnTask(db, row.id, this.owner, { notBefore: null, error: row.error, bytes, refund: true });
      return;
    }
    if (cause === 'stop') {
      if (await endTask(db, row.id, this.owner, { status: 'stopped', reason: null, error: null, bytes, finishedAt: at })) count('stopped');
      await this.settle(row.executionId);
      return;
    }
    let failure: unknown = cause === 'timeout' ? Object.assign(new Error(`timed out after ${policy.timeoutMs} ms`), { retryable: true }) : result?.error;
    if (!cause && result?.outcome) {
      const o = result.outcome;
      if (await endTask(db, row.id, this.owner, { status: o.status, reason: o.reason ?? null, error: o.error ?? null, bytes: o.bytes ?? bytes, finishedAt: at })) count(o.status);
      failure = null;
    }
    if (failure !== null && failure !== undefined) {
      const hint = retryHint(failure);
      if (hint.retryable && hint.retryAfterMs !== null && hint.retryAfterMs > RETRY_AFTER_MAX_MS) {
        // Waiting days (or years) would keep the execution open with nothing to show: it fails now, and a retry later runs it again.
        const error = errorText(`${errorText(failure)} (asked to wait ${Math.ceil(hint.retryAfterMs / 1000)} s, longer than a task waits: retry the execution later)`);
        if (await endTask(db, row.id, this.owner, { status: 'failed', reason: null, error, bytes, finishedAt: at })) count('failed');
        await this.settle(row.executionId);
        return;
      }
      if (hint.retryable && (hint.uncounted === true || row.attempts < policy.maxAttempts)) {
        const delay = retryDelayMs(row.attempts, policy, hint.retryAfterMs);
        if (await returnTask(db, row.id, this.owner, { notBefore: clock.now() + delay, error: errorText(failure), bytes, refund: hint.uncounted === true })) count('retried');
        log.info({ task: row.id, kind: execution.kind, attempt: row.attempts, delayMs: delay, err: errorText(failure) }, 'job task will be tried again');
        setTimeout(() => this.wake(), delay + 5).unref();
        return;
      }
      if (await endTask(db, row.id, this.owner, { status: 'failed', reason: null, error: errorText(failure), bytes, finishedAt: at })) count('failed');
    }
    await this.settle(row.executionId);
  }
}
