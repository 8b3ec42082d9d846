import { randomFillSync, sign, type KeyObject } from 'node:crypto';
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
interface KeySigner {
  /** base64url of the protected header: `{alg, typ: 'JWT', x5c}`. */
  header: string;
  options: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' };
}

const signers = new WeakMap<SigningKey, KeySigner>();

function signerFor(key: SigningKey): KeySigner {
  let signer = signers.get(key);
  if (signer === undefined) {
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
    signer = {
      header: Buffer.from(JSON.stringify({ alg, typ: 'JWT', x5c: key.x5c })).toString('base64url'),
      // ES256: ECDSA P-256 over SHA-256 with the signature as r||s (JWS, RFC 7518 §3.4), not DER.
      // RS256: RSASSA-PKCS1-v1_5 over SHA-256, the default padding of an RSA KeyObject.
      options: alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey,
    };
    signers.set(key, signer);
  }
  return signer;
}

// jti: 16 random bytes each, drawn from a pool refilled by one CSPRNG call per 256 tokens (as
// crypto.randomUUID does), instead of one randomBytes call per token. Every byte is used once.
const JTI_BYTES = 16;
const jtiPool = Buffer.alloc(JTI_BYTES * 256);
let jtiOffset = jtiPool.length;

function newJti(): string {
  if (jtiOffset + JTI_BYTES > jtiPool.length) {
    randomFillSync(jtiPool);
    jtiOffset = 0;
  }
  const jti = jtiPool.toString('base64url', jtiOffset, jtiOffset + JTI_BYTES);
  jtiOffset += JTI_BYTES;
  return jti;
}

/**
 * Signs a registry token and returns it with its `iat` and `exp`, with node:crypto directly: no
 * per-call key import or JWS machinery as with jose. The signature itself is made on the libuv
 * thread pool (as WebCrypto did for jose), not on the event loop: on the token bench without token
 * reuse that measured 5.5-8k requests/s against 4-5k for a synchronous ES256 sign.
 */
export function signRegistryJwt(key: SigningKey, claims: RegistryTokenClaims): Promise<SignedToken> {
  return new Promise((resolve, reject) => {
    const signer = signerFor(key);
    const iat = Math.floor(claims.nowMs / 1000);
    const exp = iat + claims.expiresIn;
    if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) throw new TypeError('token times must be finite numbers');
    // The claims (and their order) the token always had: `aud` a plain string, `nbf` five seconds back.
    const payload = {
      access: claims.access,
      iss: claims.issuer,
      sub: claims.subject,
      aud: claims.service,
      iat,
      nbf: iat - 5,
      exp,
      jti: newJti(),
    };
    const input = `${signer.header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    sign('sha256', Buffer.from(input, 'latin1'), signer.options, (err, signature) => {
      if (err) reject(err);
      else resolve({ token: `${input}.${signature.toString('base64url')}`, iat, exp });
    });
  });
}

export const issuedAtOf = (iat: number) => new Date(iat * 1000).toISOString();

/**
 * Signs a registry token. `aud` is a plain string (distribution 2.8 rejects arrays) and `nbf` sits a
 * few seconds back to absorb clock skew between Wharf and the registry.
 */
export async function signRegistryToken(key: SigningKey, claims: RegistryTokenClaims): Promise<IssuedToken> {
  const signed = await signRegistryJwt(key, claims);
  return { token: signed.token, expiresIn: claims.expiresIn, issuedAt: issuedAtOf(signed.iat) };
}
