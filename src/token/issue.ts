import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SigningKey } from './keys';

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

/**
 * Signs a registry token. `aud` is a plain string (distribution 2.8 rejects arrays) and `nbf` sits a
 * few seconds back to absorb clock skew between Wharf and the registry.
 */
export async function signRegistryToken(
  key: SigningKey,
  claims: { issuer: string; service: string; subject: string; access: AccessEntry[]; expiresIn: number; nowMs: number },
): Promise<IssuedToken> {
  const iat = Math.floor(claims.nowMs / 1000);
  const token = await new SignJWT({ access: claims.access })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', x5c: key.x5c })
    .setIssuer(claims.issuer)
    .setSubject(claims.subject)
    .setAudience(claims.service)
    .setIssuedAt(iat)
    .setNotBefore(iat - 5)
    .setExpirationTime(iat + claims.expiresIn)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(key.privateKey);
  return { token, expiresIn: claims.expiresIn, issuedAt: new Date(iat * 1000).toISOString() };
}
