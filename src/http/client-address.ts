import { BlockList, isIP } from 'node:net';

/** What `trustProxy: true` means: a proxy on the same host. */
export const LOOPBACK_PROXIES = ['127.0.0.0/8', '::1'];

/** Hops past this many from the right are not read: no real proxy chain is longer. */
const MAX_FORWARDED_HOPS = 32;
/** Longer than any address with the spaces around it. */
const MAX_HOP_CHARS = 64;

/** `::ffff:1.2.3.4` → `1.2.3.4`, so one rule matches a v4 peer however the socket reports it. */
export function normalizeAddress(addr: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(addr);
  return mapped ? mapped[1]! : addr.toLowerCase();
}

/**
 * The network a client address stands for in per-address limits: an IPv4 address itself, an IPv6
 * address's /64 (one host is handed a whole /64 and can rotate through it at will).
 */
export function addressNetwork(addr: string): string {
  const a = normalizeAddress(addr);
  if (isIP(a) !== 6) return a;
  const [head = '', tail = ''] = a.split('::', 2);
  const left = head ? head.split(':') : [];
  const right = a.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = a.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => (g === '' ? '0' : g.replace(/^0+(?=.)/, ''))).join(':')}::/64`;
}

/** An address or CIDR for the trusted-proxy list; null when it is neither. */
export function parseProxyEntry(entry: string): { address: string; prefix?: number; family: 'ipv4' | 'ipv6' } | null {
  const [rawAddress, rawPrefix, ...rest] = entry.trim().split('/');
  if (rest.length > 0 || !rawAddress) return null;
  const address = normalizeAddress(rawAddress);
  const version = isIP(address);
  if (version === 0) return null;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (rawPrefix === undefined) return { address, family };
  if (!/^\d{1,3}$/.test(rawPrefix) || Number(rawPrefix) > (version === 4 ? 32 : 128)) return null;
  return { address, prefix: Number(rawPrefix), family };
}

/** The configured proxies as a BlockList; null when no proxy is trusted. */
export function trustedProxyList(entries: false | string[]): BlockList | null {
  if (entries === false || entries.length === 0) return null;
  const list = new BlockList();
  for (const raw of entries) {
    const entry = parseProxyEntry(raw);
    if (!entry) throw new Error(`not an address or CIDR: ${raw}`);
    if (entry.prefix === undefined) list.addAddress(entry.address, entry.family);
    else list.addSubnet(entry.address, entry.prefix, entry.family);
  }
  return list;
}

function trusted(list: BlockList, addr: string): boolean {
  const version = isIP(addr);
  return version !== 0 && list.check(addr, version === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy; then X-Forwarded-For
 * is read from the right (each proxy appends the address it saw) and the first hop that is not a
 * trusted proxy is the client. Entries left of it are whatever the client wrote. A garbage entry
 * ends the walk at the last trusted hop, which is the best address anyone vouched for.
 */
export function clientAddress(peer: string | undefined | null, forwardedFor: string | undefined, proxies: BlockList | null): string | null {
  if (!peer) return null;
  let current = normalizeAddress(peer);
  if (!proxies || !forwardedFor || !trusted(proxies, current)) return current;
  // Only the rightmost hops matter: an overlong header is cut from the left, minus the hop cut in two.
  const limit = MAX_FORWARDED_HOPS * MAX_HOP_CHARS;
  const tail = forwardedFor.length > limit ? forwardedFor.slice(-limit).split(',').slice(1) : forwardedFor.split(',');
  const hops = tail.slice(-MAX_FORWARDED_HOPS);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!.trim().replace(/^\[(.*)\]$/, '$1'));
    if (isIP(hop) === 0) return current;
    if (!trusted(proxies, hop)) return hop;
    current = hop;
  }
  return current;
}
