import { randomFillSync, type KeyObject } from 'node:crypto';
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

export interface RegistryTokenClaims {
  issuer: string;
  service: string;
  subject: string;
  access: AccessEntry[];
  expiresIn: number;
  nowMs: number;
}

/** A signed token with the instants the caller needs to reuse it (see TokenCache). */
export interface SignedToken {
  token: string;
  /** `iat` in seconds. */
  iat: number;
  /** `exp` in seconds. */
  exp: number;
}

/** What signing needs from a key, checked and encoded once per key. */
export interface PreparedKey {
  /** base64url of the protected header: `{alg, typ: 'JWT', x5c}`. */
  header: string;
  options: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' };
}

export function prepareKey(key: SigningKey): PreparedKey {
  const { alg, privateKey } = key;
  // The checks jose made before every signature, made once.
  if (alg === 'ES256') {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new TypeError('ES256 needs a P-256 private key');
  } else if (alg === 'RS256') {
    if (privateKey.asymmetricKeyType !== 'rsa') throw new TypeError('RS256 needs an RSA private key');
    if ((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new TypeError('RS256 requires key modulusLength to be 2048 bits or larger');
  } else {
    throw new TypeError(`unsupported token algorithm ${String(alg)}`);
  }
  if (privateKey.type !== 'private') throw new TypeError(`${alg} signing needs a private key`);
  return {
    header: Buffer.from(JSON.stringify({ alg, typ: 'JWT', x5c: key.x5c })).toString('base64url'),
    // ES256: ECDSA P-256 over SHA-256 with the signature as r||s (JWS, RFC 7518 §3.4), not DER.
    // RS256: RSASSA-PKCS1-v1_5 over SHA-256, the default padding of an RSA KeyObject.
    options: alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey,
  };
}

const JTI_BYTES = 16;

/**
 * jti values: 16 random bytes each, drawn from a pool refilled by one CSPRNG call per 256 tokens (as
 * crypto.randomUUID does), instead of one randomBytes call per token. Every byte is used once.
 */
export class JtiSource {
  private readonly pool = Buffer.alloc(JTI_BYTES * 256);
  private offset = this.pool.length;

  next(): string {
    if (this.offset + JTI_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const jti = this.pool.toString('base64url', this.offset, this.offset + JTI_BYTES);
    this.offset += JTI_BYTES;
    return jti;
  }
}

export const issuedAtOf = (iat: number) => new Date(iat * 1000).toISOString();
