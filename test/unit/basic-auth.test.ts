import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors';
import { parseBasicAuth } from '../../src/http/basic';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('parseBasicAuth', () => {
  it('empty user and password (Basic Og==) is anonymous, like no header', () => {
    expect(parseBasicAuth('Basic Og==')).toBeNull();
    expect(parseBasicAuth('basic   Og==  ')).toBeNull();
    expect(parseBasicAuth(undefined)).toBeNull();
  });

  it('an empty user with a password is a 400, not anonymous', () => {
    expect(() => parseBasicAuth(`Basic ${b64(':secret')}`)).toThrowError(AppError);
    try {
      parseBasicAuth(`Basic ${b64(':secret')}`);
    } catch (err) {
      expect((err as AppError).status).toBe(400);
    }
  });

  it('a user with an empty password is credentials (refused later by the password check)', () => {
    expect(parseBasicAuth(`Basic ${b64('alice:')}`)).toEqual({ username: 'alice', password: '' });
    expect(parseBasicAuth(`Basic ${b64('alice:a:b')}`)).toEqual({ username: 'alice', password: 'a:b' });
  });
});
