import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { RetryableError, retryHint } from '../../src/jobs/errors';
import { CronTriggers, cronProblem } from '../../src/jobs/cron';
import { retryDelayMs } from '../../src/jobs/runner';
import { createLog } from '../../src/log';
import { waitFor } from '../support/wait';

const policy = { baseDelayMs: 1000, maxDelayMs: 30_000 };

describe('retry delay', () => {
  it('doubles per attempt from the base, jittered within the upper half', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, policy, null, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, policy, null, () => 0))).toEqual([500, 1000, 2000, 4000]);
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(3, policy);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('is capped at maxDelayMs however many attempts, and never shorter than Retry-After', () => {
    expect(retryDelayMs(40, policy, null, () => 1)).toBe(30_000);
    expect(retryDelayMs(1000, policy, null, () => 1)).toBe(30_000);
    expect(retryDelayMs(1, policy, 120_000, () => 1)).toBe(120_000);
    expect(retryDelayMs(5, policy, 10, () => 1)).toBe(16_000);
  });

  it('reads retryable and Retry-After off any thrown value', () => {
    expect(retryHint(new RetryableError('read-only', 30_000, true))).toEqual({ retryable: true, retryAfterMs: 30_000, uncounted: true });
    expect(retryHint(new RetryableError('429', 5000))).toEqual({ retryable: true, retryAfterMs: 5000 });
    expect(retryHint(Object.assign(new Error('503'), { retryable: true, status: 503 }))).toEqual({ retryable: true, retryAfterMs: null });
    expect(retryHint(Object.assign(new Error('bad digest'), { retryable: false, retryAfterMs: 10 }))).toMatchObject({ retryable: false });
    expect(retryHint(new Error('plain'))).toEqual({ retryable: false, retryAfterMs: null });
    expect(retryHint('text')).toEqual({ retryable: false, retryAfterMs: null });
    expect(retryHint(new RetryableError('x', Number.NaN)).retryAfterMs).toBeNull();
  });
});

describe('cron expressions', () => {
  it('accepts 5 and 6 fields, refuses other counts and out-of-range values with a reason', () => {
    expect(cronProblem('*/5 * * * *')).toBeNull();
    expect(cronProblem('0 30 2 * * 1-5')).toBeNull();
    expect(cronProblem('  0 3 * * 0 ')).toBeNull();
    expect(cronProblem('* * * *')).toMatch(/5 fields .* not 4/);
    expect(cronProblem('* * * * * * *')).toMatch(/not 7/);
    expect(cronProblem('')).toMatch(/not 0/);
    expect(cronProblem('61 * * * *')).toMatch(/minute/i);
    expect(cronProblem('* * 32 * *')).not.toBeNull();
  });

  it('CronTriggers sets, replaces, fires and deletes by key; a bad expression sets nothing', async () => {
    const triggers = new CronTriggers(createLog('silent'));
    try {
      let fired = 0;
      triggers.set('policy:1', '* * * * * *', async () => void fired++);
      expect(triggers.keys()).toEqual(['policy:1']);
      expect(triggers.nextRun('policy:1')).toBeInstanceOf(Date);
      await waitFor(() => fired > 0, 5000, 'an every-second trigger fired');
      triggers.set('policy:1', '0 0 1 1 *', async () => {});
      expect(triggers.keys()).toEqual(['policy:1']);
      expect(triggers.nextRun('policy:1')!.getUTCDate()).toBe(1);
      triggers.set('policy:2', 'not cron', async () => {});
      expect(triggers.keys()).toEqual(['policy:1']);
      triggers.delete('policy:1');
      expect(triggers.keys()).toEqual([]);
      expect(triggers.nextRun('policy:1')).toBeNull();
    } finally {
      triggers.stopAll();
    }
  });
});

describe('jobs configuration', () => {
  it('has defaults and takes WHARF_JOBS_* from the environment', () => {
    expect(resolveConfig({}).jobs).toEqual({ workers: 8, leaseMs: 30000, pollMs: 1000 });
    expect(resolveConfig({}, { WHARF_JOBS_WORKERS: '3', WHARF_JOBS_LEASE_MS: '6000', WHARF_JOBS_POLL_MS: '250' }).jobs).toEqual({ workers: 3, leaseMs: 6000, pollMs: 250 });
    expect(() => resolveConfig({ jobs: { workers: 0 } })).toThrow(/jobs\.workers/);
  });
});
