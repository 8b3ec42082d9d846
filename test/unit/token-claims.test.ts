import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/token/issue';
import { generateSigningPair, loadSigningKey, type SigningKey } from '../../src/token/keys';
import { TokenSigner } from '../../src/token/signer';

/** Token signing: the JWT must be one that distribution 2.8 and v3 accept (ARCHITECTURE.md, Token service). */

let work: string;
const ISSUER = 'wharf-test';
const SERVICE = 'wharf-registry';

const mode = (file: string) => statSync(file).mode & 0o777;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An RSA key and a self-signed certificate for it, in `dir`. */
function rsaPair(dir: string, cn = 't'): { keyFile: string; certFile: string } {
  const keyFile = path.join(dir, 'rsa.key');
  const certFile = path.join(dir, 'rsa.crt');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', keyFile, '-out', certFile);
  return { keyFile, certFile };
}

function newDir(name: string): string {
  return mkdtempSync(path.join(work, `${name}-`));
}

const certOf = (x5c: string) => new X509Certificate(Buffer.from(x5c, 'base64'));

async function verify(token: string, key: SigningKey, alg: 'ES256' | 'RS256', currentDate?: Date) {
  const header = decodeProtectedHeader(token);
  expect(Array.isArray(header.x5c)).toBe(true);
  const publicKey = certOf(header.x5c![0]!).publicKey;
  const { payload, protectedHeader } = await jwtVerify(token, publicKey, {
    algorithms: [alg],
    issuer: ISSUER,
    audience: SERVICE,
    ...(currentDate ? { currentDate } : {}),
  });
  expect(protectedHeader.x5c).toEqual(key.x5c);
  return { payload: payload as JWTPayload & { access: AccessEntry[] }, header: protectedHeader };
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wharf-token-claims-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('generateSigningPair', () => {
  it('makes a P-256 key and a self-signed, non-CA certificate for it', async () => {
    const pair = await generateSigningPair('wharf.example.com');
    expect(pair.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
    expect(pair.certPem).toMatch(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n$/);
    const cert = new X509Certificate(pair.certPem);
    expect(cert.subject).toBe('CN=wharf.example.com');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const now = Date.now();
    expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(now);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now + 9 * 365 * 86400_000);
  });

  it('neutralises DN metacharacters in the common name', async () => {
    const cert = new X509Certificate((await generateSigningPair('a,O=evil+b')).certPem);
    expect(cert.subject).toBe('CN=a_O_evil_b');
  });

  it('makes a different key every time', async () => {
    const [a, b] = await Promise.all([generateSigningPair('x'), generateSigningPair('x')]);
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(new X509Certificate(a.certPem).serialNumber).not.toBe(new X509Certificate(b.certPem).serialNumber);
  });
});

describe('loadSigningKey (generated ES256 pair)', () => {
  let dataDir: string;
  let key: SigningKey;
  const opts = () => ({ dataDir, algorithm: 'ES256' as const, keyFile: '', certFile: '', commonName: 'test' });

  beforeAll(async () => {
    dataDir = path.join(newDir('es256'), 'nested', 'data');
    key = await loadSigningKey(opts());
  });

  it('writes the key and certificate into the data directory with mode 0600', () => {
    const keyFile = path.join(dataDir, 'token-signing.key');
    const certFile = path.join(dataDir, 'token-signing.crt');
    expect(existsSync(keyFile)).toBe(true);
    expect(existsSync(certFile)).toBe(true);
    expect(mode(keyFile)).toBe(0o600);
    expect(mode(certFile)).toBe(0o600);
    expect(key.certFile).toBe(path.resolve(certFile));
    expect(readFileSync(certFile, 'utf8')).toBe(key.certPem);
  });

  it('describes an ES256 key with a one-certificate x5c chain', () => {
    expect(key.alg).toBe('ES256');
    expect(key.privateKey.type).toBe('private');
    expect(key.privateKey.asymmetricKeyType).toBe('ec');
    expect(key.x5c).toHaveLength(1);
    const cert = certOf(key.x5c[0]!);
    expect(cert.subject).toBe('CN=test');
    expect(cert.checkPrivateKey(key.privateKey)).toBe(true);
    expect(new X509Certificate(key.certPem).fingerprint256).toBe(cert.fingerprint256);
  });

  it('reuses the same files on the next start', async () => {
    const keyBefore = readFileSync(path.join(dataDir, 'token-signing.key'), 'utf8');
    const again = await loadSigningKey(opts());
    expect(again.x5c).toEqual(key.x5c);
    expect(again.certPem).toBe(key.certPem);
    expect(readFileSync(path.join(dataDir, 'token-signing.key'), 'utf8')).toBe(keyBefore);
  });

  it('tightens a loosened key file back to 0600 on the next start', async () => {
    const keyFile = path.join(dataDir, 'token-signing.key');
    chmodSync(keyFile, 0o644);
    await loadSigningKey(opts());
    expect(mode(keyFile)).toBe(0o600);
  });

  it('signs a token that verifies with the x5c certificate and carries the registry claims', async () => {
    const access: AccessEntry[] = [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ];
    const issued = await new TokenSigner(key).issue({ issuer: ISSUER, service: SERVICE, subject: 'alice', access, expiresIn: 300, nowMs: Date.now() });
    expect(issued.expiresIn).toBe(300);
    const { payload, header } = await verify(issued.token, key, 'ES256');
    expect(header.alg).toBe('ES256');
    expect(header.typ).toBe('JWT');
    expect(header.x5c).toHaveLength(1);
    expect(typeof payload.aud).toBe('string');
    expect(payload.aud).toBe(SERVICE);
    expect(payload.iss).toBe(ISSUER);
    expect(payload.sub).toBe('alice');
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.nbf!).toBeLessThan(payload.iat!);
    expect(payload.iat! - payload.nbf!).toBeLessThanOrEqual(60);
    expect(typeof payload.jti).toBe('string');
    expect(payload.jti!.length).toBeGreaterThanOrEqual(16);
    expect(payload.access).toEqual(access);
    expect(new Date(issued.issuedAt).getTime()).toBe(payload.iat! * 1000);
  });

  it('uses the given clock and reports issued_at in RFC 3339', async () => {
    const nowMs = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
    const issued = await new TokenSigner(key).issue({ issuer: ISSUER, service: SERVICE, subject: 'bob', access: [], expiresIn: 900, nowMs });
    expect(issued.issuedAt).toBe('2030-01-02T03:04:05.000Z');
    const { payload } = await verify(issued.token, key, 'ES256', new Date(nowMs));
    expect(payload.iat).toBe(Math.floor(nowMs / 1000));
    expect(payload.exp).toBe(Math.floor(nowMs / 1000) + 900);
    expect(payload.access).toEqual([]);
    // and it is not valid an hour after it expired
    await expect(jwtVerify(issued.token, certOf(key.x5c[0]!).publicKey, { currentDate: new Date(nowMs + 3600_000 + 900_000) })).rejects.toThrow();
  });

  it('gives every token its own jti', async () => {
    const claims = { issuer: ISSUER, service: SERVICE, subject: 'alice', access: [], expiresIn: 60, nowMs: Date.now() };
    const signer = new TokenSigner(key);
    const [a, b] = await Promise.all([signer.issue(claims), signer.issue(claims)]);
    const pa = (await verify(a.token, key, 'ES256')).payload;
    const pb = (await verify(b.token, key, 'ES256')).payload;
    expect(pa.jti).toBeTruthy();
    expect(pa.jti).not.toBe(pb.jti);
    expect(a.token).not.toBe(b.token);
  });

  it('produces tokens that another key does not verify', async () => {
    const other = await loadSigningKey({ ...opts(), dataDir: newDir('other') });
    const issued = await new TokenSigner(key).issue({ issuer: ISSUER, service: SERVICE, subject: 'alice', access: [], expiresIn: 60, nowMs: Date.now() });
    await expect(jwtVerify(issued.token, certOf(other.x5c[0]!).publicKey)).rejects.toThrow();
  });
});

describe('loadSigningKey (operator RS256 pair)', () => {
  let key: SigningKey;
  let files: { keyFile: string; certFile: string };

  beforeAll(async () => {
    files = rsaPair(newDir('rs256'));
    key = await loadSigningKey({ dataDir: newDir('rs256-data'), algorithm: 'RS256', ...files, commonName: 'ignored' });
  });

  it('loads the key and certificate as given', () => {
    expect(key.alg).toBe('RS256');
    expect(key.privateKey.asymmetricKeyType).toBe('rsa');
    expect(key.x5c).toHaveLength(1);
    expect(certOf(key.x5c[0]!).subject).toBe('CN=t');
    expect(key.certFile).toBe(path.resolve(files.certFile));
  });

  it('signs RS256 tokens that verify with the certificate', async () => {
    const access: AccessEntry[] = [{ type: 'repository', name: 'myapp', actions: ['pull'] }];
    const issued = await new TokenSigner(key).issue({ issuer: ISSUER, service: SERVICE, subject: 'carol', access, expiresIn: 120, nowMs: Date.now() });
    const { payload, header } = await verify(issued.token, key, 'RS256');
    expect(header.alg).toBe('RS256');
    expect(payload.aud).toBe(SERVICE);
    expect(payload.sub).toBe('carol');
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(payload.nbf!).toBeLessThan(payload.iat!);
    expect(payload.access).toEqual(access);
  });

  it('puts a whole certificate chain in x5c, leaf first', async () => {
    const dir = newDir('chain');
    const extra = rsaPair(dir, 'other-ca');
    const chainFile = path.join(dir, 'chain.crt');
    writeFileSync(chainFile, readFileSync(files.certFile, 'utf8') + readFileSync(extra.certFile, 'utf8'));
    const chained = await loadSigningKey({ dataDir: dir, algorithm: 'RS256', keyFile: files.keyFile, certFile: chainFile, commonName: 'x' });
    expect(chained.x5c).toHaveLength(2);
    expect(chained.x5c[0]).toBe(key.x5c[0]);
    expect(certOf(chained.x5c[1]!).subject).toBe('CN=other-ca');
    expect(chained.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });
});

describe('loadSigningKey refuses mismatched pairs', () => {
  let es: { keyFile: string; certFile: string };
  let rsa: { keyFile: string; certFile: string };

  beforeAll(async () => {
    const esDir = newDir('mismatch-es');
    await loadSigningKey({ dataDir: esDir, algorithm: 'ES256', keyFile: '', certFile: '', commonName: 'es' });
    es = { keyFile: path.join(esDir, 'token-signing.key'), certFile: path.join(esDir, 'token-signing.crt') };
    rsa = rsaPair(newDir('mismatch-rsa'));
  });

  it('RS256 with an EC key', async () => {
    await expect(loadSigningKey({ dataDir: work, algorithm: 'RS256', ...es, commonName: 'x' })).rejects.toThrow(
      /RS256 needs an RSA key.*token-signing\.key holds ec/,
    );
  });

  it('ES256 with an RSA key', async () => {
    await expect(loadSigningKey({ dataDir: work, algorithm: 'ES256', ...rsa, commonName: 'x' })).rejects.toThrow(
      /ES256 needs a P-256 key.*rsa\.key holds rsa/,
    );
  });

  it('ES256 with a P-384 key', async () => {
    const dir = newDir('p384');
    const keyFile = path.join(dir, 'p384.key');
    const certFile = path.join(dir, 'p384.crt');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-days', '1', '-subj', '/CN=p', '-keyout', keyFile, '-out', certFile);
    await expect(loadSigningKey({ dataDir: dir, algorithm: 'ES256', keyFile, certFile, commonName: 'x' })).rejects.toThrow(/ES256 needs a P-256 key/);
  });

  it('a certificate that belongs to another key of the same type', async () => {
    const other = rsaPair(newDir('other-rsa'));
    await expect(loadSigningKey({ dataDir: work, algorithm: 'RS256', keyFile: rsa.keyFile, certFile: other.certFile, commonName: 'x' })).rejects.toThrow(
      /does not belong to the key/,
    );
  });

  it('a certificate of an RSA key beside an EC key', async () => {
    await expect(loadSigningKey({ dataDir: work, algorithm: 'ES256', keyFile: es.keyFile, certFile: rsa.certFile, commonName: 'x' })).rejects.toThrow(
      new RegExp(`${rsa.certFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not belong to the key in`),
    );
  });

  it('a certificate file without a certificate', async () => {
    const dir = newDir('nocert');
    const certFile = path.join(dir, 'empty.crt');
    writeFileSync(certFile, 'not a certificate\n');
    await expect(loadSigningKey({ dataDir: dir, algorithm: 'ES256', keyFile: es.keyFile, certFile, commonName: 'x' })).rejects.toThrow(
      /empty\.crt holds no PEM certificate/,
    );
  });
});
