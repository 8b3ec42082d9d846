import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { addressNetwork, clientAddress, trustedProxyList } from '../../src/http/client-address';

/** The client address behind trusted proxies: X-Forwarded-For read from the right. */

const loopback = trustedProxyList(resolveConfig({ trustProxy: true }).trustProxy);
const listed = trustedProxyList(['10.0.0.0/8', '192.168.7.1', 'fd00::/8']);

describe('trustProxy in the configuration', () => {
  it('true means loopback only; false and [] mean none; the environment takes true, false or a list', () => {
    expect(resolveConfig({ trustProxy: true }).trustProxy).toEqual(['127.0.0.0/8', '::1']);
    expect(resolveConfig({ trustProxy: false }).trustProxy).toBe(false);
    expect(resolveConfig({ trustProxy: [] }).trustProxy).toBe(false);
    expect(resolveConfig({}, { WHARF_TRUST_PROXY: 'true' }).trustProxy).toEqual(['127.0.0.0/8', '::1']);
    expect(resolveConfig({ trustProxy: true }, { WHARF_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(resolveConfig({}, { WHARF_TRUST_PROXY: '10.1.0.0/16' }).trustProxy).toEqual(['10.1.0.0/16']);
    expect(() => resolveConfig({}, { WHARF_TRUST_PROXY: 'yes' })).toThrow(/trustProxy: .*\(from WHARF_TRUST_PROXY\)/);
  });
});

describe('clientAddress', () => {
  it('is the socket peer when nothing is trusted, whatever the header says', () => {
    expect(clientAddress('203.0.113.9', '1.1.1.1', null)).toBe('203.0.113.9');
    expect(clientAddress('::ffff:203.0.113.9', '1.1.1.1', null)).toBe('203.0.113.9');
    expect(clientAddress(undefined, '1.1.1.1', loopback)).toBeNull();
  });

  it('is the socket peer when the peer is not a trusted proxy', () => {
    expect(clientAddress('203.0.113.9', '1.1.1.1', loopback)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '1.1.1.1', loopback)).toBe('10.0.0.1');
  });

  it('takes the rightmost hop that is not a trusted proxy, not the leftmost one the client wrote', () => {
    // The client sent "X-Forwarded-For: 6.6.6.6"; nginx appended the address it saw.
    expect(clientAddress('127.0.0.1', '6.6.6.6, 198.51.100.4', loopback)).toBe('198.51.100.4');
    expect(clientAddress('::1', '198.51.100.4', loopback)).toBe('198.51.100.4');
    expect(clientAddress('::ffff:127.0.0.1', '198.51.100.4', loopback)).toBe('198.51.100.4');
    // Two proxies in a row: both are skipped.
    expect(clientAddress('10.2.3.4', '6.6.6.6, 198.51.100.4, 192.168.7.1', listed)).toBe('198.51.100.4');
    expect(clientAddress('10.2.3.4', '2001:db8::5, fd00::1', listed)).toBe('2001:db8::5');
    expect(clientAddress('10.2.3.4', '[2001:db8::5], ::ffff:10.9.9.9', listed)).toBe('2001:db8::5');
  });

  it('stops at garbage and keeps the last trusted hop', () => {
    expect(clientAddress('127.0.0.1', '198.51.100.4, not-an-ip', loopback)).toBe('127.0.0.1');
    expect(clientAddress('10.2.3.4', '198.51.100.4, <script>, 192.168.7.1', listed)).toBe('192.168.7.1');
    expect(clientAddress('127.0.0.1', '', loopback)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', ' , ', loopback)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '198.51.100.4:5555', loopback)).toBe('127.0.0.1');
  });

  it('reads only the right end of an overlong header, never half a hop', () => {
    const long = `${'10.0.0.1, '.repeat(5000)}198.51.100.4`;
    expect(clientAddress('127.0.0.1', long, loopback)).toBe('198.51.100.4');
    // All trusted up to where reading stops: the last trusted hop, not a hop cut in two.
    const trustedChain = `203.0.113.77, ${'10.0.0.1, '.repeat(5000)}10.0.0.2`;
    expect(clientAddress('10.0.0.3', trustedChain, listed)).toBe('10.0.0.1');
    const cut = `${'1'.repeat(10_000)}0.1.2.3, ${'10.0.0.1,'.repeat(300)}10.0.0.2`;
    expect(clientAddress('10.0.0.3', cut, listed)).not.toBe('0.1.2.3');
  });

  it('refuses entries that are not addresses', () => {
    expect(() => trustedProxyList(['proxy.local'])).toThrow();
  });
});

describe('addressNetwork', () => {
  it('keys IPv6 clients by their /64 and IPv4 clients by their address', () => {
    expect(addressNetwork('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressNetwork('2001:DB8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(addressNetwork('2001:db8:1:2::9')).toBe(addressNetwork('2001:db8:1:2:aaaa:bbbb:cccc:dddd'));
    expect(addressNetwork('2001:db8:1:3::9')).not.toBe(addressNetwork('2001:db8:1:2::9'));
    expect(addressNetwork('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64');
    expect(addressNetwork('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressNetwork('10.1.2.3')).toBe('10.1.2.3');
  });
});
