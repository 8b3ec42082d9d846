import { describe, expect, it } from 'vitest';
import { parseChallenge, retryAfterMs } from '../../src/replication/remote';

describe('registry challenges', () => {
  it('reads Bearer with realm, service and scope, and Basic', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull',
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic' });
    expect(parseChallenge(['Basic realm="x"', 'Bearer realm="https://t/"'])).toMatchObject({ scheme: 'bearer', realm: 'https://t/' });
  });

  it('refuses what it cannot answer: no header, another scheme, Bearer without a realm', () => {
    expect(parseChallenge(undefined)).toBeNull();
    expect(parseChallenge('Negotiate abc')).toBeNull();
    expect(parseChallenge('Bearer service="x"')).toBeNull();
  });
});

describe('Retry-After', () => {
  it('seconds or an HTTP date, as milliseconds from now', () => {
    expect(retryAfterMs('7')).toBe(7000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
