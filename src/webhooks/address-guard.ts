import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Where a webhook may not send unless webhooks.allowPrivateTargets is set: loopback, private,
 * link-local (cloud metadata at 169.254.169.254 among them), carrier-grade NAT (metadata at
 * 100.100.100.200), documentation, benchmarking, multicast and reserved ranges, and their IPv6
 * twins (IPv4-mapped and NAT64 addresses are judged by the IPv4 address inside).
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) address. */
function embeddedIpv4(ip: string): string | null {
  const lower = ip.toLowerCase();
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(lower);
  if (!m) return null;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Whether a webhook may not connect to this IP address (under the guard). */
export function isBlockedAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) {
    const inner = embeddedIpv4(ip);
    if (inner) return blocked.check(inner, 'ipv4');
    return blocked.check(ip, 'ipv6');
  }
  return true;
}

/** Names that mean this machine whatever DNS says. */
export const isLocalName = (host: string): boolean => {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === 'localhost.localdomain';
};

/** The error a guarded connection fails with; its message names the address, never more. */
export class BlockedTargetError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
  constructor(readonly host: string, readonly address: string) {
    super(`${host} resolves to ${address}, a private, loopback, link-local or reserved address (webhooks.allowPrivateTargets is off)`);
    this.name = 'BlockedTargetError';
  }
}

type Resolve = (host: string, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemResolve: Resolve = (host, cb) => dnsLookup(host, { all: true, verbatim: true }, cb);

/**
 * A `lookup` for net.connect / tls.connect (undici's connect options) that resolves the name and
 * drops every address under the guard, so the address actually connected to is checked (a name
 * that resolved to a public address when the webhook was saved and to 127.0.0.1 now is refused).
 */
export function guardedLookup(resolve: Resolve = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const family = typeof options === 'object' && options ? (options as { family?: number | string }).family : undefined;
      const wanted = family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : 0;
      const candidates = addresses.filter((a) => wanted === 0 || a.family === wanted);
      const allowed = candidates.filter((a) => !isBlockedAddress(a.address));
      if (allowed.length === 0) {
        const first = candidates[0]?.address ?? addresses[0]?.address ?? 'no address';
        return callback(new BlockedTargetError(hostname, first) as unknown as NodeJS.ErrnoException, '', 0);
      }
      if (typeof options === 'object' && options && (options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      return callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/** The host of a URL as net.connect sees it (IPv6 literals without brackets). */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');
