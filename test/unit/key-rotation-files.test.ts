import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  activateNotificationSecret,
  NotificationSecrets,
  readNotificationSecrets,
  stageNotificationSecret,
} from '../../src/events/notification-secret';
import { partialFileOf, pemCertificates } from '../../src/token/keys';
import {
  activateSigningKey,
  loadRotatingSigningKey,
  repairSigningKeyFiles,
  retireSigningKey,
  RotationError,
  signingKeyFiles,
  signingKeyStatus,
  stageSigningKey,
  type SigningKeyFiles,
} from '../../src/token/rotation';

/** The files of a signing key rotation and of a notification secret rotation, step by step and after crashes. */

const work = mkdtempSync(path.join(os.tmpdir(), 'wharf-rotation-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;
const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
const bundleFingerprints = (files: SigningKeyFiles) => pemCertificates(readFileSync(files.bundle, 'utf8')).map((pem) => new X509Certificate(pem).fingerprint256).sort();
const EXPIRES_IN = 900;
const options = (dataDir: string) => ({ dataDir, algorithm: 'ES256' as const, keyFile: '', certFile: '', commonName: 'wharf token signer' });

let dataDir: string;
let files: SigningKeyFiles;

beforeEach(async () => {
  dataDir = mkdtempSync(path.join(work, 'data-'));
  files = (await loadRotatingSigningKey(options(dataDir))).files;
});

describe('signing key files', () => {
  it('lie beside the active pair, in the data directory or beside an operator-supplied pair', () => {
    expect(files).toEqual({
      key: path.join(dataDir, 'token-signing.key'),
      cert: path.join(dataDir, 'token-signing.crt'),
      nextKey: path.join(dataDir, 'token-signing.next.key'),
      nextCert: path.join(dataDir, 'token-signing.next.crt'),
      previousCert: path.join(dataDir, 'token-signing.previous.crt'),
      bundle: path.join(dataDir, 'token-bundle.crt'),
    });
    expect(signingKeyFiles({ dataDir, keyFile: '/etc/wharf/signing.pem', certFile: '/etc/wharf/signing-cert.pem' })).toEqual({
      key: '/etc/wharf/signing.pem',
      cert: '/etc/wharf/signing-cert.pem',
      nextKey: '/etc/wharf/signing.next.pem',
      nextCert: '/etc/wharf/signing-cert.next.pem',
      previousCert: '/etc/wharf/signing-cert.previous.pem',
      bundle: path.join(dataDir, 'token-bundle.crt'),
    });
  });

  it('stage, activate and retire: each step leaves files 0600 and a bundle of exactly the certificates still trusted', async () => {
    const first = fingerprintOf(files.cert);
    expect(bundleFingerprints(files)).toEqual([first]);
    expect(mode(files.bundle)).toBe(0o600);

    const next = await stageSigningKey(files, { algorithm: 'ES256', commonName: 'wharf token signer' });
    for (const f of [files.nextKey, files.nextCert, files.bundle]) expect(mode(f), f).toBe(0o600);
    expect(bundleFingerprints(files)).toEqual([first, next.fingerprint].sort());
    await expect(stageSigningKey(files, { algorithm: 'ES256', commonName: 'x' })).rejects.toThrow(/already staged/);

    const bundleBefore = readFileSync(files.bundle, 'utf8');
    const keyBefore = readFileSync(files.key, 'utf8');
    const { active, previous } = activateSigningKey(files, { algorithm: 'ES256', nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false });
    expect(active.fingerprint).toBe(next.fingerprint);
    expect(previous.fingerprint).toBe(first);
    expect(existsSync(files.nextKey) || existsSync(files.nextCert)).toBe(false);
    expect(readFileSync(files.key, 'utf8')).not.toBe(keyBefore);
    expect(mode(files.previousCert)).toBe(0o600);
    // The same two certificates in a fixed order: the registry need not read the bundle again.
    expect(readFileSync(files.bundle, 'utf8')).toBe(bundleBefore);
    // The old private key is nowhere in the directory any more.
    for (const name of ['token-signing.key', 'token-signing.next.key', 'token-signing.previous.crt', 'token-bundle.crt'])
      if (existsSync(path.join(dataDir, name))) expect(readFileSync(path.join(dataDir, name), 'utf8')).not.toContain(keyBefore.trim());

    expect(() => retireSigningKey(files, { nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false })).toThrow(RotationError);
    expect(() => retireSigningKey(files, { nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false })).toThrow(/wait 9[56]\d s .* or pass --force/);
    expect(existsSync(files.previousCert)).toBe(true);
    // Once token.expiresIn and the registry's minute of leeway have passed, retire needs no --force.
    const then = Date.now() + (EXPIRES_IN + 61) * 1000;
    const retired = retireSigningKey(files, { nowMs: then, expiresIn: EXPIRES_IN, force: false });
    expect(retired.fingerprint).toBe(first);
    expect(existsSync(files.previousCert)).toBe(false);
    expect(bundleFingerprints(files)).toEqual([next.fingerprint]);
    expect(() => retireSigningKey(files, { nowMs: then, expiresIn: EXPIRES_IN, force: false })).toThrow(/no previous certificate/);
  });

  it('activate refuses without a staged key, and refuses to drop a previous certificate still in use unless forced', async () => {
    expect(() => activateSigningKey(files, { algorithm: 'ES256', nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false })).toThrow(/no next key staged/);
    await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    activateSigningKey(files, { algorithm: 'ES256', nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false });
    await stageSigningKey(files, { algorithm: 'ES256', commonName: 'b' });
    expect(() => activateSigningKey(files, { algorithm: 'ES256', nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false })).toThrow(/would drop the previous certificate/);
    const old = Date.now() / 1000 - EXPIRES_IN - 61;
    utimesSync(files.previousCert, old, old);
    expect(() => activateSigningKey(files, { algorithm: 'ES256', nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false })).not.toThrow();
  });

  it('stages an operator-supplied pair after the start checks, and refuses a mismatched one', async () => {
    const dir = mkdtempSync(path.join(work, 'own-'));
    const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    sh('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=own', '-keyout', 'own.key', '-out', 'own.crt');
    sh('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=other', '-keyout', 'other.key', '-out', 'other.crt');
    await expect(stageSigningKey(files, { algorithm: 'ES256', commonName: 'x', fromKey: path.join(dir, 'own.key'), fromCert: path.join(dir, 'other.crt') })).rejects.toThrow(
      /does not belong to the key/,
    );
    expect(existsSync(files.nextKey)).toBe(false);
    await expect(stageSigningKey(files, { algorithm: 'RS256', commonName: 'x' })).rejects.toThrow(/RS256: stage your own pair/);
    const staged = await stageSigningKey(files, { algorithm: 'ES256', commonName: 'x', fromKey: path.join(dir, 'own.key'), fromCert: path.join(dir, 'own.crt') });
    expect(staged.subject).toBe('CN=own');
    expect(readFileSync(files.nextKey, 'utf8')).toBe(readFileSync(path.join(dir, 'own.key'), 'utf8'));
  });

  it('status lists active, next and previous certificates with their fingerprints, and nothing of a private key', async () => {
    await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    const status = signingKeyStatus(files);
    expect(status.map((s) => s.state)).toEqual(['active', 'next']);
    expect(status[0]!.fingerprint).toBe(fingerprintOf(files.cert));
    expect(JSON.stringify(status)).not.toMatch(/PRIVATE KEY/);
  });
});

describe('a crash between two steps', () => {
  const activateOpts = { algorithm: 'ES256' as const, nowMs: Date.now(), expiresIn: EXPIRES_IN, force: false };

  it('half-way through activate (key renamed, certificate not): the next start finishes it', async () => {
    const next = await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    writeFileSync(files.previousCert, readFileSync(files.cert), { mode: 0o600 });
    renameSync(files.nextKey, files.key);
    const { key } = await loadRotatingSigningKey(options(dataDir));
    expect(new X509Certificate(Buffer.from(key.x5c[0]!, 'base64')).fingerprint256).toBe(next.fingerprint);
    expect(existsSync(files.nextCert)).toBe(false);
    expect(signingKeyStatus(files).map((s) => s.state)).toEqual(['active', 'previous']);
  });

  it('after the previous certificate was written but nothing renamed: activate runs again without --force', async () => {
    const next = await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    writeFileSync(files.previousCert, readFileSync(files.cert), { mode: 0o600 });
    expect(repairSigningKeyFiles(files)).toEqual([]);
    expect(activateSigningKey(files, activateOpts).active.fingerprint).toBe(next.fingerprint);
  });

  it('half-way through stage (certificate written, key not) or with partial files: they are dropped and stage runs again', async () => {
    const next = await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    rmSync(files.nextKey);
    writeFileSync(partialFileOf(files.nextKey), 'half a key');
    writeFileSync(partialFileOf(files.bundle), 'half a bundle');
    const repaired = repairSigningKeyFiles(files);
    expect(repaired).toHaveLength(2);
    expect(existsSync(partialFileOf(files.nextKey)) || existsSync(partialFileOf(files.bundle))).toBe(false);
    // A certificate without its key stays trusted but is not activated.
    expect(() => activateSigningKey(files, activateOpts)).toThrow(/no next key staged/);
    rmSync(files.nextCert);
    expect((await stageSigningKey(files, { algorithm: 'ES256', commonName: 'b' })).fingerprint).not.toBe(next.fingerprint);
  });

  it('a staged key whose certificate is another key\'s is dropped', async () => {
    await stageSigningKey(files, { algorithm: 'ES256', commonName: 'a' });
    writeFileSync(files.nextCert, readFileSync(files.cert));
    expect(repairSigningKeyFiles(files)).toEqual([expect.stringMatching(/removed .*token-signing\.next\.key/)]);
    expect(existsSync(files.nextKey)).toBe(false);
  });
});

describe('notification secret files', () => {
  it('stage adds a next secret both are accepted for; activate leaves only the next one', () => {
    const { current } = readNotificationSecrets(dataDir);
    expect(mode(path.join(dataDir, 'notification-secret'))).toBe(0o600);
    stageNotificationSecret(dataDir);
    expect(() => stageNotificationSecret(dataDir)).toThrow(/already staged/);
    const staged = readNotificationSecrets(dataDir);
    expect(staged.current).toBe(current);
    expect(staged.next).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mode(path.join(dataDir, 'notification-secret.next'))).toBe(0o600);
    const secrets = new NotificationSecrets(staged.current, staged.next);
    expect(secrets.forRegistry).toBe(staged.next);
    expect(secrets.accepts(`Bearer ${current}`)).toBe(true);
    expect(secrets.accepts(`Bearer ${staged.next}`)).toBe(true);
    expect(secrets.accepts('Bearer nope')).toBe(false);
    expect(secrets.accepts(undefined)).toBe(false);

    activateNotificationSecret(dataDir);
    expect(() => activateNotificationSecret(dataDir)).toThrow(/no next notification secret staged/);
    const after = readNotificationSecrets(dataDir);
    expect(after).toEqual({ current: staged.next, next: null });
    const only = new NotificationSecrets(after.current, after.next);
    expect(only.accepts(`Bearer ${current}`)).toBe(false);
    expect(only.accepts(`Bearer ${staged.next}`)).toBe(true);
    expect(only.forRegistry).toBe(staged.next);
  });
});
