import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { headerField, messageOf, SEVERITY, severityOf } from '../../src/audit/forward-message';
import { parseForwardUrl } from '../../src/audit/forward-target';
import type { AuditRow } from '../../src/audit/feed';

const row = (over: Partial<AuditRow> = {}): AuditRow => ({
  id: 41,
  time: '2026-03-01T10:00:00.000Z',
  username: 'admin',
  action: 'project_create',
  resourceType: 'project',
  resource: 'web',
  project: 'web',
  repository: null,
  tag: null,
  digest: null,
  mediaType: null,
  sourceIp: '10.0.0.1',
  userAgent: null,
  outcome: 'success',
  count: 1,
  detail: null,
  foldKey: null,
  ...over,
});

describe('audit.forward.url', () => {
  it('takes udp, tcp and tls with a host and a port', () => {
    expect(parseForwardUrl('tcp://syslog.example.com:514')).toEqual({ transport: 'tcp', host: 'syslog.example.com', port: 514 });
    expect(parseForwardUrl('udp://10.1.2.3:1')).toEqual({ transport: 'udp', host: '10.1.2.3', port: 1 });
    expect(parseForwardUrl('tls://[::1]:6514')).toEqual({ transport: 'tls', host: '::1', port: 6514 });
  });

  it.each([
    ['http://h:514', /expected udp/],
    ['syslog.example.com:514', /expected udp/],
    ['tcp://h', /host:port/],
    ['tcp://h:0', /between 1 and 65535/],
    ['tcp://h:65536', /between 1 and 65535/],
    ['tcp://u:p@h:514', /no user/],
    ['tcp://h:514/path', /no path/],
    ['tcp://h:514?x=1', /no path/],
    ['tcp://[1:2:3]:514', /not an IPv6/],
    ['tcp://[nope]:514', /host:port/],
    ['tcp://..:514', /not a host name/],
  ])('refuses %s, naming the key', (url, why) => {
    expect(parseForwardUrl(url)).toMatch(why);
    expect(() => resolveConfig({ audit: { forward: { url } } })).toThrow(/audit\.forward\.url: /);
  });

  it('takes caFile only with tls://, and names the key', () => {
    expect(() => resolveConfig({ audit: { forward: { url: 'tcp://h:514', caFile: '/ca.pem' } } })).toThrow(/audit\.forward\.caFile: only used with a tls:\/\/ url/);
    expect(resolveConfig({ audit: { forward: { url: 'tls://h:6514', caFile: '/ca.pem' } } }).audit.forward.caFile).toBe('/ca.pem');
    expect(() => resolveConfig({ audit: { forward: { url: 'tcp://h:0' } } }, { WHARF_AUDIT_FORWARD_URL: 'udp://h:0' })).toThrow(/from WHARF_AUDIT_FORWARD_URL/);
  });
});

describe('syslog messages of audit rows', () => {
  it('severity: warning for failures, info for registry traffic and sign-ins, notice for changes', () => {
    expect(severityOf(row({ action: 'login_failed' }))).toBe(SEVERITY.warning);
    expect(severityOf(row({ action: 'token_denied' }))).toBe(SEVERITY.warning);
    expect(severityOf(row({ action: 'immutable_violation' }))).toBe(SEVERITY.warning);
    expect(severityOf(row({ action: 'project_create', outcome: 'denied' }))).toBe(SEVERITY.warning);
    expect(severityOf(row({ action: 'push' }))).toBe(SEVERITY.info);
    expect(severityOf(row({ action: 'pull' }))).toBe(SEVERITY.info);
    expect(severityOf(row({ action: 'delete' }))).toBe(SEVERITY.info);
    expect(severityOf(row({ action: 'user_create' }))).toBe(SEVERITY.notice);
  });

  it('is the row as one line of JSON, empty fields left out, detail parsed when it is JSON', () => {
    const text = messageOf(row({ detail: '{"roles":["admin"],"note":"a\\nb"}' }), 8000);
    expect(text).not.toMatch(/[\r\n]/);
    expect(JSON.parse(text)).toEqual({
      id: 41,
      time: '2026-03-01T10:00:00.000Z',
      username: 'admin',
      action: 'project_create',
      outcome: 'success',
      resourceType: 'project',
      resource: 'web',
      project: 'web',
      sourceIp: '10.0.0.1',
      count: 1,
      detail: { roles: ['admin'], note: 'a\nb' },
    });
    expect(JSON.parse(messageOf(row({ detail: 'plain words' }), 8000)).detail).toBe('plain words');
  });

  it('cuts a row over the budget in its longest texts, detail first, and says so; never drops it', () => {
    const detail = JSON.stringify({ big: '"\u00e9\n'.repeat(5000) });
    const text = messageOf(row({ detail, userAgent: 'ua' }), 2000);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(2000);
    const parsed = JSON.parse(text);
    expect(parsed).toMatchObject({ id: 41, action: 'project_create', truncated: true, userAgent: 'ua' });
    expect(detail.startsWith(parsed.detail)).toBe(true);
    expect(parsed.detail.length).toBeGreaterThan(100);
    // A giant user agent too: both cut, still within the budget.
    const both = messageOf(row({ detail, userAgent: 'u'.repeat(20_000) }), 1000);
    expect(Buffer.byteLength(both)).toBeLessThanOrEqual(1000);
    expect(JSON.parse(both)).toMatchObject({ id: 41, truncated: true });
  });

  it('header fields are printable ASCII without spaces, bounded, "-" for none', () => {
    expect(headerField('web hook\u00e9_create', 32)).toBe('webhook_create');
    expect(headerField('x'.repeat(40), 32)).toHaveLength(32);
    expect(headerField(' ', 32)).toBe('-');
  });
});
