import { invalidRequest } from '../errors';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses `Authorization: Basic ...`. Returns null when the header is absent, another scheme, or
 * empty credentials (`Basic Og==`, which some clients send for "no user"); throws 400 when it is
 * Basic but malformed (bad base64, not UTF-8, no colon, a password without a user).
 */
export function parseBasicAuth(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const match = /^Basic(?:\s+(.*?))?\s*$/i.exec(header);
  if (!match) return null;
  const b64 = match[1] ?? '';
  if (b64 === '' || b64.length > 4096 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw invalidRequest('malformed Basic authorization header');
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    throw invalidRequest('Basic credentials must be UTF-8');
  }
  if (decoded === ':') return null;
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidRequest('malformed Basic authorization header');
  if (colon === 0) throw invalidRequest('Basic credentials with a password need a user name');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
