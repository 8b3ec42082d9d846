import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Robot secrets and personal access tokens: 32 random bytes with a recognisable prefix. They carry
 * their own entropy, so a SHA-256 hash is enough to store them (no slow password hash needed).
 */
export function newSecret(prefix: 'wrb' | 'wpat'): { secret: string; hash: string } {
  const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashSecret(secret) };
}

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
