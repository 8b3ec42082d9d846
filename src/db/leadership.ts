import pg from 'pg';
import type { Config } from '../config/schema';
import type { Log } from '../log';
import { connectionOptions } from './pg';

/** A periodic job while it runs on this instance; stop() ends its timers (and may wait for a run in flight). */
export interface Scheduled {
  stop(): void | Promise<void>;
}

/** Starts a periodic job: called each time this instance becomes the leader. */
export type Scheduler = () => Scheduled;

/** The database's side of the election: the one lock whose holder runs the schedulers. */
export interface ElectionLock {
  /** Tries once to take the lock; true when this instance now holds it. `lost` is called (once) if a held lock's connection fails. */
  tryTake(lost: (why: string) => void): Promise<boolean>;
  /** Gives the lock back and closes what holds it; idempotent. */
  release(): Promise<void>;
}

/** On SQLite the one instance on the file always leads. */
export const soleInstanceLock: ElectionLock = { tryTake: async () => true, release: async () => {} };

/** The advisory lock key of the scheduler election (one per database). */
const ELECTION_KEY = 'wharf.schedulers';
/** How often the leader asks its lock's connection for an answer, and how long it waits for one. */
const HEARTBEAT_MS = 2000;
/** A leadership connection that says nothing for this long gets TCP keepalive probes. */
const KEEPALIVE_DELAY_MS = 5000;

/**
 * A session-level `pg_try_advisory_lock` on a connection of its own (never the pool's, whose
 * connections come and go): held while the session lives. When the connection errors, ends or
 * stops answering, the leader is told at once, before the server frees the lock for anyone else.
 */
export class AdvisoryElectionLock implements ElectionLock {
  private client: pg.Client | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private lost: ((why: string) => void) | null = null;

  constructor(
    private readonly database: Config['database'],
    private readonly heartbeatMs = HEARTBEAT_MS,
  ) {}

  async tryTake(lost: (why: string) => void): Promise<boolean> {
    const client = this.client ?? (await this.connect());
    let taken: boolean;
    try {
      const { rows } = await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS taken', [ELECTION_KEY]);
      taken = rows[0]?.taken === true;
    } catch (err) {
      this.drop(client, (err as Error).message);
      throw err;
    }
    if (!taken || this.client !== client) return false;
    this.lost = lost;
    this.heartbeat = setInterval(() => void this.check(client), this.heartbeatMs);
    this.heartbeat.unref();
    return true;
  }

  async release(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopHeartbeat();
    this.lost = null;
    this.client = null;
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ ...connectionOptions(this.database), keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS });
    client.on('error', (err) => this.drop(client, err.message));
    client.on('end', () => this.drop(client, 'connection ended'));
    await client.connect();
    this.client = client;
    return client;
  }

  /** A held lock's connection must answer within the heartbeat: a silent one is as good as gone. */
  private async check(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer from the database in time')), this.heartbeatMs);
    });
    try {
      await Promise.race([client.query('SELECT 1'), silent]);
    } catch (err) {
      this.drop(client, (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forgets a failed connection (tearing it down so the server frees the lock) and tells the leader. */
  private drop(client: pg.Client, why: string): void {
    if (this.client !== client) return;
    this.client = null;
    this.stopHeartbeat();
    const lost = this.lost;
    this.lost = null;
    lost?.(why);
    client.connection.stream.destroy();
    client.end().catch(() => undefined);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** The election of `database.url`'s engine: the advisory lock on PostgreSQL, always this instance on SQLite. */
export const electionLockFor = (database: Config['database']): ElectionLock => (database.url === '' ? soleInstanceLock : new AdvisoryElectionLock(database));

export interface LeadershipOptions {
  log: Log;
  /** How long a standby (or a leader that lost its lock) waits before it tries again. */
  retryMs?: number;
  /** Told of every change (the metric gauge). */
  onChange?: (leading: boolean) => void;
}

/**
 * Which instance on the database runs the schedulers (reconcile, the prunes, audit retention; later
 * replication, garbage collection): the one holding the election lock. Schedulers are registered
 * with `schedule` and started when this instance becomes the leader, stopped when it stops leading.
 */
export class Leadership {
  private leadingNow = false;
  private started = false;
  private retry: NodeJS.Timeout | null = null;
  private attempt: Promise<void> | null = null;
  private failing = false;
  private readonly schedulers: { start: Scheduler; active: Scheduled | null }[] = [];

  constructor(
    private readonly lock: ElectionLock,
    private readonly opts: LeadershipOptions,
  ) {}

  /** Whether this instance runs the schedulers now. */
  get leading(): boolean {
    return this.leadingNow;
  }

  /** Registers a scheduler: it runs while this instance leads (started now if it already does). */
  schedule(start: Scheduler): void {
    const entry = { start, active: null as Scheduled | null };
    this.schedulers.push(entry);
    if (this.leadingNow) entry.active = this.startOne(start);
  }

  /** Takes part in the election: the first attempt is awaited, standbys try again every retryMs. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.tryLead();
  }

  /** Stops the schedulers (waiting for their runs in flight) and gives the lock back. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.attempt;
    const was = this.leadingNow;
    this.leadingNow = false;
    await this.stopSchedulers();
    await this.lock.release();
    if (was) {
      this.opts.log.info('stopped leading: schedulers stopped, leadership released');
      this.opts.onChange?.(false);
    }
  }

  private tryLead(): Promise<void> {
    this.retry = null;
    const run = this.takeOrWait().finally(() => {
      if (this.attempt === run) this.attempt = null;
    });
    this.attempt = run;
    return run;
  }

  private async takeOrWait(): Promise<void> {
    if (!this.started || this.leadingNow) return;
    try {
      const taken = await this.lock.tryTake((why) => this.lose(why));
      this.failing = false;
      if (taken && this.started) this.lead();
      else if (taken) await this.lock.release();
    } catch (err) {
      // A database that cannot be reached is said once, not on every retry.
      if (!this.failing) this.opts.log.warn({ err: (err as Error).message }, 'cannot take part in the scheduler election; trying again');
      this.failing = true;
    }
    if (this.started && !this.leadingNow) this.waitAndRetry();
  }

  private waitAndRetry(): void {
    this.retry = setTimeout(() => void this.tryLead(), this.opts.retryMs ?? 2000);
    this.retry.unref();
  }

  private lead(): void {
    this.leadingNow = true;
    this.opts.log.info('leading: this instance runs the schedulers');
    this.opts.onChange?.(true);
    for (const s of this.schedulers) s.active = this.startOne(s.start);
  }

  /** The lock's connection failed: stop leading at once (schedulers' timers cleared now), then stand for election again. */
  private lose(why: string): void {
    if (!this.leadingNow) return;
    this.leadingNow = false;
    this.opts.log.warn({ why }, 'lost leadership: schedulers stopped; trying again');
    this.opts.onChange?.(false);
    void this.stopSchedulers();
    if (this.started && !this.retry) this.waitAndRetry();
  }

  private startOne(start: Scheduler): Scheduled | null {
    try {
      return start();
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'a scheduler failed to start');
      return null;
    }
  }

  private async stopSchedulers(): Promise<void> {
    const stopping = this.schedulers.map((s) => {
      const active = s.active;
      s.active = null;
      return (async () => active?.stop())().catch((err: Error) => this.opts.log.warn({ err: err.message }, 'a scheduler failed to stop'));
    });
    await Promise.all(stopping);
  }
}
