import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import bcrypt from 'bcryptjs';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );

const N = 16384;
const r = 8;
const p = 1;
const KEYLEN = 32;

/** Hashes a password as `scrypt$N$r$p$salt$hash` (base64 salt and hash). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export type HashKind = 'scrypt' | 'bcrypt' | 'unknown';

export function hashKind(hash: string): HashKind {
  if (hash.startsWith('scrypt$')) return 'scrypt';
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  return 'unknown';
}

/** Verifies a password against a stored scrypt hash, or a bcrypt hash imported from htpasswd. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const kind = hashKind(hash);
  if (kind === 'bcrypt') return bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
  if (kind !== 'scrypt') return false;
  const parts = hash.split('$');
  if (parts.length !== 6) return false;
  const [, n, rr, pp, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const params = { N: Number(n), r: Number(rr), p: Number(pp) };
  const expected = Buffer.from(keyB64, 'base64');
  // A corrupt or hostile hash must never verify (an empty key would match anything) nor throw.
  const sane =
    Number.isInteger(params.N) && params.N >= 1024 && params.N <= 1 << 20 && (params.N & (params.N - 1)) === 0 &&
    Number.isInteger(params.r) && params.r >= 1 && params.r <= 32 &&
    Number.isInteger(params.p) && params.p >= 1 && params.p <= 16 &&
    expected.length >= 16 && expected.length <= 128;
  if (!sane) return false;
  try {
    const key = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, {
      ...params,
      maxmem: 256 * params.N * params.r + 1024 * 1024,
    });
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

/** A hash no password matches, verified for unknown users so a miss costs as long as a hit. */
export const decoyHash = await hashPassword(randomBytes(16).toString('hex'));

/** A random secret for robots, tokens and generated passwords. */
export const randomSecret = (bytes = 32) => randomBytes(bytes).toString('base64url');
