import { eq, inArray, lt, sql } from 'drizzle-orm';
import { transaction } from '../db/transaction';
import type { Clock } from '../clock';
import type { Db } from '../db/open';
import { rowsChanged, tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';
import type { loginThrottle } from '../db/schema';
import { canonicalName } from './names';
import { addressNetwork } from '../http/client-address';

export interface ThrottleOptions {
  /** Failed passwords for one name within the window before the name is locked out. */
  maxFailures: number;
  /** Failed passwords from one client address, across names, before the address is locked out; 0: no limit. */
  maxFailuresPerAddress: number;
  windowMs: number;
  lockoutMs: number;
}

export type ThrottleKind = 'name' | 'address';

export interface ThrottleLock {
  retryAfter: number;
  kind: ThrottleKind;
}

/** An attempt counted before its check; `succeed` hands it back. */
export interface AttemptTicket {
  /** By key: the row before this attempt counted, and the lock time its count set (-1: none). */
  before: Record<string, { row: typeof loginThrottle.$inferSelect; lockSet: number }>;
}

const rowOf = preparedPerConnection('login_throttle_row', (db) => {
  const { loginThrottle } = tablesOf(db);
  return db.select().from(loginThrottle).where(eq(loginThrottle.key, sql.placeholder('key')));
});

const nameKey = (name: string) => `name:${canonicalName(name)}`;
const addressKey = (address: string) => `addr:${addressNetwork(address)}`;

/**
 * Counts failed logins per name and per client address, in the database, so every Wharf instance on
 * it sees the same counts. Each failure touches one row per key (O(1)); rows die when their window
 * and lockout have passed, and `prune` removes them in batches.
 */
export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly opts: ThrottleOptions,
  ) {}

  private keys(name: string, address: string | null | undefined): [string, ThrottleKind, number][] {
    const keys: [string, ThrottleKind, number][] = [[nameKey(name), 'name', this.opts.maxFailures]];
    if (address && this.opts.maxFailuresPerAddress > 0) keys.push([addressKey(address), 'address', this.opts.maxFailuresPerAddress]);
    return keys;
  }

  /** Seconds until the name may try again from this address, and which lock holds it; null when it may now. */
  async locked(name: string, address?: string | null, db: Db = this.db): Promise<ThrottleLock | null> {
    const lockTimes: [ThrottleKind, number | null][] = [];
    for (const [key, kind] of this.keys(name, address)) lockTimes.push([kind, (await rowOf(db).get({ key }))?.lockedUntil ?? null]);
    return this.worstLock(lockTimes);
  }

  /** The keys `locked` reads for a name and address, for a caller that reads their lock times in a query of its own. */
  lockKeys(name: string, address?: string | null): { nameKey: string; addressKey: string | null } {
    const keys = this.keys(name, address);
    return { nameKey: keys[0]![0], addressKey: keys[1]?.[0] ?? null };
  }

  /** What `locked` answers, from the lock times (null: no row) of the keys `lockKeys` gave. */
  lockedFrom(lockTimes: { nameLockedUntil: number | null; addressLockedUntil: number | null }, address?: string | null): ThrottleLock | null {
    const withAddress = this.lockKeys('', address).addressKey !== null;
    return this.worstLock([['name', lockTimes.nameLockedUntil], ...(withAddress ? [['address', lockTimes.addressLockedUntil] as [ThrottleKind, number | null]] : [])]);
  }

  private worstLock(lockTimes: [ThrottleKind, number | null][]): ThrottleLock | null {
    const now = this.clock.now();
    let worst: ThrottleLock | null = null;
    for (const [kind, lockedUntil] of lockTimes) {
      const left = lockedUntil === null ? 0 : lockedUntil - now;
      if (left > 0 && (!worst || left > worst.retryAfter * 1000)) worst = { retryAfter: Math.ceil(left / 1000), kind };
    }
    return worst;
  }

  /** Seconds until the name may try again (0: now); the address limit counts too when given. */
  async retryAfter(name: string, address?: string | null): Promise<number> {
    return (await this.locked(name, address))?.retryAfter ?? 0;
  }

  /** Counts one failure for the name and the address. */
  async fail(name: string, address?: string | null): Promise<void> {
    await this.count(name, address);
  }

  /**
   * Counts a password attempt before its check, so parallel guesses cannot all pass a check made
   * before any of them failed: a ticket when it may go ahead (already counted; `succeed` hands it
   * back), else the lock that refuses it.
   */
  attempt(name: string, address?: string | null): Promise<ThrottleLock | AttemptTicket> {
    return transaction(this.db, async (tx) => (await this.locked(name, address, tx)) ?? { before: await this.count(name, address, tx) });
  }

  /** A right password: the name's count goes; the address gets this attempt back, not the rest (a sprayer may know one password). */
  async succeed(name: string, address?: string | null, ticket?: AttemptTicket): Promise<void> {
    await transaction(this.db, async (tx) => {
      const { loginThrottle } = tablesOf(tx);
      await tx.delete(loginThrottle).where(eq(loginThrottle.key, nameKey(name)));
      if (!ticket || !address || this.opts.maxFailuresPerAddress <= 0) return;
      const key = addressKey(address);
      const before = ticket.before[key];
      const row = await rowOf(tx).get({ key });
      if (!row || !before) return;
      // The attempt's own lock is undone with it; a lock set since by others stays.
      const restored = row.lockedUntil === before.lockSet ? { ...before.row } : { ...row, failures: Math.max(0, row.failures - 1) };
      if (restored.failures === 0 && restored.lockedUntil <= this.clock.now()) await tx.delete(loginThrottle).where(eq(loginThrottle.key, key));
      else await tx.update(loginThrottle).set(restored).where(eq(loginThrottle.key, key));
    });
  }

  /** Adds one failure to each key; returns each key's row as it was before, and the lock this count set. */
  private async count(name: string, address?: string | null, db: Db = this.db): Promise<AttemptTicket['before']> {
    const now = this.clock.now();
    const { windowMs, lockoutMs } = this.opts;
    const before: AttemptTicket['before'] = {};
    await transaction(db, async (tx) => {
      const { loginThrottle } = tablesOf(tx);
      for (const [key, , max] of this.keys(name, address)) {
        const row = await rowOf(tx).get({ key });
        const inWindow = !!row && row.windowStart > now - windowMs;
        let failures = inWindow ? row.failures + 1 : 1;
        let windowStart = inWindow ? row.windowStart : now;
        let lockedUntil = row && row.lockedUntil > now ? row.lockedUntil : 0;
        let lockSet = -1;
        if (failures >= max) {
          lockedUntil = now + lockoutMs;
          lockSet = lockedUntil;
          failures = 0;
          windowStart = now;
        }
        const values = { key, failures, windowStart, lockedUntil, expiresAt: Math.max(lockedUntil, windowStart + windowMs) };
        before[key] = { row: row ?? { ...values, failures: 0, lockedUntil: 0 }, lockSet };
        await tx.insert(loginThrottle).values(values).onConflictDoUpdate({ target: loginThrottle.key, set: values });
      }
    });
    return before;
  }

  /** Removes up to `batch` dead rows; returns how many. */
  async prune(batch = 5000): Promise<number> {
    const { loginThrottle } = tablesOf(this.db);
    const dead = (await this.db
      .select({ key: loginThrottle.key })
      .from(loginThrottle)
      .where(lt(loginThrottle.expiresAt, this.clock.now()))
      .limit(batch))
      .map((r) => r.key);
    if (dead.length === 0) return 0;
    return rowsChanged(await this.db.delete(loginThrottle).where(inArray(loginThrottle.key, dead)));
  }
}
