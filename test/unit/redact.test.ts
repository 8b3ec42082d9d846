import { describe, expect, it } from 'vitest';
import { redactSecrets, secretRedactor } from '../../src/registry/redact';

/** The registry prints its configuration and errors; none of Wharf's secrets may survive into a log. */
describe('redactSecrets', () => {
  it('removes the Authorization header the registry prints at start (Go map form)', () => {
    const line =
      'time="2026-01-01T00:00:00Z" level=info msg="configuring endpoint wharf (http://127.0.0.1:8080/service/notifications), timeout=3s, headers=map[Authorization:[Bearer s3cr3tNotify]]" version=2.8.2+ds1';
    const out = redactSecrets(line, []);
    expect(out).not.toContain('s3cr3tNotify');
    expect(out).toContain('headers=map[Authorization:[[redacted]]]');
    expect(out).toContain('configuring endpoint wharf');
  });

  it('removes Authorization in JSON and HTTP-dump forms, whatever the case', () => {
    for (const line of [
      '{"msg":"x","headers":{"Authorization":"Bearer abc.def"}}',
      '{"authorization":["Basic dXNlcjpwYXNz"]}',
      'GET /v2/ HTTP/1.1\r\nAUTHORIZATION: Basic dXNlcjpwYXNz\r\nHost: x',
      'Proxy-Authorization= token-xyz-123',
    ]) {
      const out = redactSecrets(line, []);
      expect(out, line).not.toMatch(/abc\.def|dXNlcjpwYXNz|token-xyz-123/);
      expect(out, line).toContain('[redacted]');
    }
  });

  it('removes Bearer and Basic values and JWTs anywhere in a line', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl';
    const out = redactSecrets(`token bearer Zm9vYmFy and basic QWxhZGRpbjpvcGVu and ${jwt} end`, []);
    expect(out).toBe('token bearer [redacted] and basic [redacted] and [redacted] end');
  });

  it('removes every occurrence of the given secrets, plain and URL-encoded, longest first', () => {
    const out = redactSecrets('url=http://h/x?k=p%40ss%2Fw0rd&m=metrics-token-1 again metrics-token-1 and metrics-token-12', [
      'p@ss/w0rd',
      'metrics-token-1',
      'metrics-token-12',
    ]);
    expect(out).toBe('url=http://h/x?k=[redacted]&m=[redacted] again [redacted] and [redacted]');
  });

  it('leaves ordinary output alone and ignores empty secrets', () => {
    const line = 'time="2026-01-01T00:00:00Z" level=fatal msg="listen tcp 127.0.0.1:5000: bind: address already in use"';
    expect(redactSecrets(line, ['', 'absent-secret'])).toBe(line);
    expect(secretRedactor(['', 'x-secret-x'])('a x-secret-x b')).toBe('a [redacted] b');
  });
});
