import { isIP } from 'node:net';

/** Where audit rows are forwarded: audit.forward.url taken apart. */
export interface ForwardTarget {
  transport: 'udp' | 'tcp' | 'tls';
  /** A name or an IP address (IPv6 without brackets). */
  host: string;
  port: number;
}

const SHAPE = /^(udp|tcp|tls):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Why `url` is not udp://host:port, tcp://host:port or tls://host:port; null when it is. */
export function forwardUrlProblem(url: string): string | null {
  const target = parseForwardUrl(url);
  return typeof target === 'string' ? target : null;
}

/** The target of a forwarding URL, or why it is not one. */
export function parseForwardUrl(url: string): ForwardTarget | string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== 'udp' && scheme !== 'tcp' && scheme !== 'tls') return 'expected udp://host:port, tcp://host:port or tls://host:port';
  const rest = url.slice(scheme.length + 3);
  if (rest.includes('@')) return 'no user or password: syslog has no login';
  if (/[/?#]/.test(rest)) return 'only host:port after the scheme (no path, query or fragment)';
  const m = SHAPE.exec(`${scheme}${url.slice(scheme.length)}`);
  if (!m) return 'expected host:port after the scheme, e.g. tcp://syslog.example.com:514';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return 'port must be between 1 and 65535';
  const bracketed = m[2]!.startsWith('[');
  const host = bracketed ? m[2]!.slice(1, -1) : m[2]!;
  if (bracketed && isIP(host) !== 6) return `${JSON.stringify(m[2])} is not an IPv6 address`;
  if (!bracketed && (host.startsWith('.') || host.startsWith('-') || host.includes('..'))) return `${JSON.stringify(host)} is not a host name`;
  return { transport: scheme, host, port };
}
