import { describe, expect, it } from 'vitest';
import { Leadership, soleInstanceLock, type ElectionLock } from '../../src/db/leadership';
import { createLog } from '../../src/log';
import { waitFor } from '../support/wait';

/** The election's bookkeeping against a lock the test hands out and takes away (the PostgreSQL lock is in test/integration/instances.test.ts). */

const log = createLog('silent');

/** A lock that is free when `free` says so, and can be lost on demand. */
function fakeLock() {
  const state = { free: true, tries: 0, releases: 0, failNext: false, lose: null as ((why: string) => void) | null };
  const lock: ElectionLock = {
    async tryTake(lost) {
      state.tries++;
      if (state.failNext) {
        state.failNext = false;
        throw new Error('connection refused');
      }
      if (!state.free) return false;
      state.free = false;
      state.lose = lost;
      return true;
    },
    async release() {
      state.releases++;
      state.free = true;
      state.lose = null;
    },
  };
  return { lock, state };
}

/** A scheduler that counts its starts and stops. */
function counted() {
  const c = { starts: 0, stops: 0 };
  const start = () => {
    c.starts++;
    return { stop: () => void c.stops++ };
  };
  return { c, start };
}

describe('Leadership', () => {
  it('on SQLite the one instance leads as soon as it starts, runs its schedulers once and stops them on stop', async () => {
    const changes: boolean[] = [];
    const leadership = new Leadership(soleInstanceLock, { log, onChange: (leading) => changes.push(leading) });
    const { c, start } = counted();
    leadership.schedule(start);
    expect(leadership.leading).toBe(false);
    expect(c.starts).toBe(0);
    await leadership.start();
    expect(leadership.leading).toBe(true);
    expect(c).toEqual({ starts: 1, stops: 0 });
    const late = counted();
    leadership.schedule(late.start);
    expect(late.c.starts).toBe(1);
    await leadership.stop();
    expect(leadership.leading).toBe(false);
    expect(c).toEqual({ starts: 1, stops: 1 });
    expect(late.c.stops).toBe(1);
    expect(changes).toEqual([true, false]);
  });

  it('a standby retries until the lock is free, then leads', async () => {
    const { lock, state } = fakeLock();
    state.free = false;
    const leadership = new Leadership(lock, { log, retryMs: 10 });
    const { c, start } = counted();
    leadership.schedule(start);
    await leadership.start();
    expect(leadership.leading).toBe(false);
    expect(c.starts).toBe(0);
    await waitFor(() => state.tries >= 3, 2000, 'standby retries');
    expect(leadership.leading).toBe(false);
    state.free = true;
    await waitFor(() => leadership.leading, 2000, 'takes over');
    expect(c.starts).toBe(1);
    await leadership.stop();
    expect(state.free).toBe(true);
  });

  it('a lost lock stops the schedulers at once (not on the next tick), then the instance stands again and leads anew', async () => {
    const { lock, state } = fakeLock();
    const changes: boolean[] = [];
    const leadership = new Leadership(lock, { log, retryMs: 10, onChange: (leading) => changes.push(leading) });
    const { c, start } = counted();
    leadership.schedule(start);
    await leadership.start();
    expect(leadership.leading).toBe(true);
    // the server freed the lock with the connection; another instance takes it first
    state.free = false;
    state.lose!('connection ended');
    expect(leadership.leading).toBe(false);
    expect(c).toEqual({ starts: 1, stops: 1 });
    const triesAfterLoss = state.tries;
    await waitFor(() => state.tries >= triesAfterLoss + 2, 2000, 'retries after the loss');
    expect(leadership.leading).toBe(false);
    state.free = true;
    await waitFor(() => leadership.leading, 2000, 'leads again');
    expect(c).toEqual({ starts: 2, stops: 1 });
    expect(changes).toEqual([true, false, true]);
    await leadership.stop();
    expect(changes).toEqual([true, false, true, false]);
  });

  it('a failing database is retried; a scheduler that throws on start does not stop the others', async () => {
    const { lock, state } = fakeLock();
    state.failNext = true;
    const leadership = new Leadership(lock, { log, retryMs: 10 });
    leadership.schedule(() => {
      throw new Error('broken scheduler');
    });
    const { c, start } = counted();
    leadership.schedule(start);
    await leadership.start();
    expect(leadership.leading).toBe(false);
    await waitFor(() => leadership.leading, 2000, 'leads after the failure');
    expect(c.starts).toBe(1);
    await leadership.stop();
    expect(c.stops).toBe(1);
  });

  it('stop during a standby wait ends the retries and takes no lock', async () => {
    const { lock, state } = fakeLock();
    state.free = false;
    const leadership = new Leadership(lock, { log, retryMs: 10 });
    await leadership.start();
    await leadership.stop();
    const tries = state.tries;
    state.free = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(state.tries).toBe(tries);
    expect(leadership.leading).toBe(false);
  });
});
