import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Log } from '../log';
import { generateSigningPair, loadSigningKey, partialFileOf, pemCertificates, readSigningPair, replaceSecretFile, type SigningKey } from './keys';

/**
 * The files of the token signing key and its rotation. Beside the active pair live the staged next
 * pair and the retired previous certificate; the registry's rootcertbundle is the bundle, which
 * holds the certificates of all three, so tokens of either key verify while instances switch.
 */
export interface SigningKeyFiles {
  key: string;
  cert: string;
  nextKey: string;
  nextCert: string;
  previousCert: string;
  /** Written by Wharf from the three certificates; the registry's rootcertbundle. */
  bundle: string;
}

export interface SigningKeyOptions {
  dataDir: string;
  algorithm: 'ES256' | 'RS256';
  keyFile: string;
  certFile: string;
  commonName: string;
}

/** `signing.key` → `signing.next.key`: the rotation files of an operator's pair sit beside it. */
const besides = (file: string, state: 'next' | 'previous') => {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}.${state}${ext}`);
};

export function signingKeyFiles(opts: Pick<SigningKeyOptions, 'dataDir' | 'keyFile' | 'certFile'>): SigningKeyFiles {
  const key = path.resolve(opts.keyFile || path.join(opts.dataDir, 'token-signing.key'));
  const cert = path.resolve(opts.certFile || path.join(opts.dataDir, 'token-signing.crt'));
  return {
    key,
    cert,
    nextKey: besides(key, 'next'),
    nextCert: besides(cert, 'next'),
    previousCert: besides(cert, 'previous'),
    bundle: path.resolve(opts.dataDir, 'token-bundle.crt'),
  };
}

/** Refused rotation step, with a message for the operator. */
export class RotationError extends Error {}

const readIfExists = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

/** Whether the key file's public key is the one of the certificate file's leaf; false when either is missing or unreadable. */
function belongTogether(keyFile: string, certFile: string): boolean {
  try {
    const leaf = pemCertificates(readFileSync(certFile, 'utf8'))[0];
    if (!leaf) return false;
    const fromKey = createPublicKey(createPrivateKey(readFileSync(keyFile, 'utf8'))).export({ format: 'der', type: 'spki' });
    return fromKey.equals(new X509Certificate(leaf).publicKey.export({ format: 'der', type: 'spki' }));
  } catch {
    return false;
  }
}

/**
 * Puts the files back into a state a command or a start can use after a crash between two steps:
 * drops partial files, finishes an activation that renamed one half of the pair, and drops a staged
 * key whose certificate is missing or another key's. Says what it did on `log`.
 */
export function repairSigningKeyFiles(files: SigningKeyFiles, log?: Log): string[] {
  const repaired: string[] = [];
  for (const file of [files.key, files.cert, files.nextKey, files.nextCert, files.previousCert, files.bundle]) {
    const partial = partialFileOf(file);
    if (existsSync(partial)) {
      rmSync(partial, { force: true });
      repaired.push(`removed ${partial}`);
    }
  }
  if (existsSync(files.key) && existsSync(files.cert) && !belongTogether(files.key, files.cert)) {
    if (existsSync(files.nextKey) && belongTogether(files.nextKey, files.cert)) {
      renameSync(files.nextKey, files.key);
      repaired.push(`finished an activation: ${files.nextKey} became ${files.key}`);
    } else if (existsSync(files.nextCert) && belongTogether(files.key, files.nextCert)) {
      renameSync(files.nextCert, files.cert);
      repaired.push(`finished an activation: ${files.nextCert} became ${files.cert}`);
    }
  }
  if (existsSync(files.nextKey) && !belongTogether(files.nextKey, files.nextCert)) {
    rmSync(files.nextKey, { force: true });
    repaired.push(`removed ${files.nextKey}: its certificate is missing or belongs to another key`);
  }
  if (repaired.length > 0) log?.warn({ repaired }, 'token signing key files repaired after an interrupted rotation');
  return repaired;
}

/**
 * The rootcertbundle's content: every certificate of the active, next and previous files, once
 * each, in a fixed order (by fingerprint) so that an activation, which moves the same certificates
 * between files, leaves the bundle and so the registry as they were.
 */
export function bundleContent(files: SigningKeyFiles): string {
  const byFingerprint = new Map<string, string>();
  for (const file of [files.cert, files.nextCert, files.previousCert]) {
    for (const pem of pemCertificates(readIfExists(file) ?? '')) byFingerprint.set(new X509Certificate(pem).fingerprint256, pem);
  }
  return [...byFingerprint].sort(([a], [b]) => a.localeCompare(b)).map(([, pem]) => pem + '\n').join('');
}

/** Writes the bundle when its content changed; true if it did. */
export function writeTokenBundle(files: SigningKeyFiles): boolean {
  const content = bundleContent(files);
  if (readIfExists(files.bundle) === content) return false;
  replaceSecretFile(files.bundle, content);
  return true;
}

/** The start: repairs the files, makes the first pair if there is none, loads it and writes the bundle. */
export async function loadRotatingSigningKey(opts: SigningKeyOptions, log?: Log): Promise<{ key: SigningKey; files: SigningKeyFiles }> {
  const files = signingKeyFiles(opts);
  repairSigningKeyFiles(files, log);
  const key = await loadSigningKey(opts);
  writeTokenBundle(files);
  return { key, files };
}

export interface KeyState {
  state: 'active' | 'next' | 'previous';
  file: string;
  /** SHA-256 of the leaf certificate, as openssl prints it. */
  fingerprint: string;
  subject: string;
  notAfter: string;
  /** When the file was last written: for `previous`, when the key was retired from signing. */
  since: Date;
}

function stateOf(state: KeyState['state'], file: string): KeyState | null {
  const pem = readIfExists(file);
  const leaf = pem && pemCertificates(pem)[0];
  if (!leaf) return null;
  const cert = new X509Certificate(leaf);
  return { state, file, fingerprint: cert.fingerprint256, subject: cert.subject, notAfter: new Date(cert.validTo).toISOString(), since: statSync(file).mtime };
}

/** The certificates the files hold now, active first; never anything of the private keys. */
export function signingKeyStatus(files: SigningKeyFiles): KeyState[] {
  return [stateOf('active', files.cert), stateOf('next', files.nextCert), stateOf('previous', files.previousCert)].filter((s): s is KeyState => s !== null);
}

/**
 * How long a retired key's tokens may still be presented: a token signed just before the switch
 * lives its full lifetime, and the registry allows a minute of clock skew past `exp`.
 */
export const retiredKeyLifetimeMs = (expiresInSeconds: number) => (expiresInSeconds + 60) * 1000;

/** Refuses to drop the previous certificate while tokens it signed may still be in use, unless forced. */
function assertPreviousExpired(files: SigningKeyFiles, opts: { nowMs: number; expiresIn: number; force: boolean }, doing: string): void {
  const previous = stateOf('previous', files.previousCert);
  // Equal to the active one: the copy an activation made before a crash stopped it.
  if (!previous || opts.force || previous.fingerprint === stateOf('active', files.cert)?.fingerprint) return;
  const waitMs = previous.since.getTime() + retiredKeyLifetimeMs(opts.expiresIn) - opts.nowMs;
  if (waitMs > 0)
    throw new RotationError(
      `${doing} would drop the previous certificate (${previous.fingerprint}) while tokens it signed may still be in use; ` +
        `wait ${Math.ceil(waitMs / 1000)} s (token.expiresIn plus the registry's minute of leeway) or pass --force`,
    );
}

/** Makes the next pair: generated (ES256), or the operator's own pair copied in after the same checks as at start. */
export async function stageSigningKey(
  files: SigningKeyFiles,
  opts: { algorithm: 'ES256' | 'RS256'; commonName: string; fromKey?: string | undefined; fromCert?: string | undefined },
): Promise<KeyState> {
  if (existsSync(files.nextKey) || existsSync(files.nextCert))
    throw new RotationError(`a next key is already staged (${files.nextCert}); activate it, or remove ${files.nextKey} and ${files.nextCert} first`);
  let pair: { keyPem: string; certPem: string };
  if (opts.fromKey || opts.fromCert) {
    if (!opts.fromKey || !opts.fromCert) throw new RotationError('--key and --cert go together');
    const checked = readSigningPair(opts.fromKey, opts.fromCert, opts.algorithm);
    pair = { keyPem: readFileSync(opts.fromKey, 'utf8'), certPem: checked.certPem };
  } else {
    if (opts.algorithm !== 'ES256') throw new RotationError('token.algorithm RS256: stage your own pair with --key FILE --cert FILE');
    pair = await generateSigningPair(opts.commonName);
  }
  // The certificate first: a crash before the key leaves a trusted certificate and nothing to sign with.
  replaceSecretFile(files.nextCert, pair.certPem);
  replaceSecretFile(files.nextKey, pair.keyPem);
  writeTokenBundle(files);
  return stateOf('next', files.nextCert)!;
}

/**
 * The next pair becomes the active one: the active certificate is kept as the previous one (still
 * trusted), the active private key is gone. Each step is a rename, so a crash in between leaves a
 * state repairSigningKeyFiles finishes.
 */
export function activateSigningKey(
  files: SigningKeyFiles,
  opts: { algorithm: 'ES256' | 'RS256'; nowMs: number; expiresIn: number; force: boolean },
): { active: KeyState; previous: KeyState } {
  if (!existsSync(files.nextKey) || !existsSync(files.nextCert)) throw new RotationError(`no next key staged (${files.nextKey}); run wharf signing-key stage first`);
  readSigningPair(files.nextKey, files.nextCert, opts.algorithm);
  assertPreviousExpired(files, opts, 'activating');
  replaceSecretFile(files.previousCert, readFileSync(files.cert));
  renameSync(files.nextKey, files.key);
  renameSync(files.nextCert, files.cert);
  writeTokenBundle(files);
  return { active: stateOf('active', files.cert)!, previous: stateOf('previous', files.previousCert)! };
}

/** Drops the previous certificate from the files and the bundle: tokens of the old key stop verifying. */
export function retireSigningKey(files: SigningKeyFiles, opts: { nowMs: number; expiresIn: number; force: boolean }): KeyState {
  const previous = stateOf('previous', files.previousCert);
  if (!previous) throw new RotationError(`no previous certificate to retire (${files.previousCert})`);
  assertPreviousExpired(files, opts, 'retiring');
  rmSync(files.previousCert);
  writeTokenBundle(files);
  return previous;
}
