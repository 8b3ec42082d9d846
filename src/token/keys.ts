import { webcrypto, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SigningKey {
  alg: 'ES256' | 'RS256';
  privateKey: KeyObject;
  /** Base64 DER certificates, leaf first: the token's `x5c` header. */
  x5c: string[];
  /** PEM of the chain: the registry's `rootcertbundle`. */
  certPem: string;
  certFile: string;
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function writeSecretFile(file: string, content: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** A file's partial twin while it is being replaced; a crash leaves only this, which the next repair removes. */
export const partialFileOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.partial`);

/** Replaces `file` whole (0600): readers see the old content or the new, never half of it. */
export function replaceSecretFile(file: string, content: string | Buffer): void {
  const partial = partialFileOf(file);
  writeSecretFile(partial, content);
  renameSync(partial, file);
}

/** Generates a P-256 key and a self-signed certificate valid for ten years. */
export async function generateSigningPair(commonName: string): Promise<{ keyPem: string; certPem: string }> {
  // Loaded only on a first start, so a running instance does not keep the certificate library in memory.
  // @peculiar/x509 relies on tsyringe, which needs the Reflect metadata polyfill loaded first.
  await import('reflect-metadata');
  // The CommonJS module object: what both Node and the bundled build give as the default export.
  const x509 = (await import('@peculiar/x509')).default;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + 10);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  return { keyPem, certPem: cert.toString('pem') + '\n' };
}

/**
 * The token signing key: the operator's pair when configured, else the pair generated in the data
 * directory on first start (files 0600) and reused after.
 */
export async function loadSigningKey(opts: {
  dataDir: string;
  algorithm: 'ES256' | 'RS256';
  keyFile: string;
  certFile: string;
  commonName: string;
}): Promise<SigningKey> {
  let keyFile = opts.keyFile;
  let certFile = opts.certFile;
  if (!keyFile) {
    keyFile = path.join(opts.dataDir, 'token-signing.key');
    certFile = path.join(opts.dataDir, 'token-signing.crt');
    if (!existsSync(keyFile) || !existsSync(certFile)) {
      const pair = await generateSigningPair(opts.commonName);
      writeSecretFile(keyFile, pair.keyPem);
      writeSecretFile(certFile, pair.certPem);
    } else {
      chmodSync(keyFile, 0o600);
    }
  }
  return readSigningPair(keyFile, certFile, opts.algorithm);
}

/** The PEM certificates of a file, in order. */
export const pemCertificates = (pem: string): string[] => pem.match(PEM_CERT_RE) ?? [];

/** Reads a key and its certificate file and checks they belong together and suit the algorithm. */
export function readSigningPair(keyFile: string, certFile: string, algorithm: 'ES256' | 'RS256'): SigningKey {
  const keyPem = readFileSync(keyFile, 'utf8');
  const certPem = readFileSync(certFile, 'utf8');
  const privateKey = createPrivateKey(keyPem);
  const certs = pemCertificates(certPem);
  if (certs.length === 0) throw new Error(`${certFile} holds no PEM certificate`);
  const leaf = new X509Certificate(certs[0]!);
  const keyType = privateKey.asymmetricKeyType;
  if (algorithm === 'ES256' && (keyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'))
    throw new Error(`token.algorithm ES256 needs a P-256 key, ${keyFile} holds ${keyType}`);
  if (algorithm === 'RS256' && keyType !== 'rsa') throw new Error(`token.algorithm RS256 needs an RSA key, ${keyFile} holds ${keyType}`);
  const publicFromKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicFromCert = leaf.publicKey.export({ format: 'der', type: 'spki' });
  if (!publicFromKey.equals(publicFromCert)) throw new Error(`${certFile} does not belong to the key in ${keyFile}`);
  const x5c = certs.map((pem) => new X509Certificate(pem).raw.toString('base64'));
  return { alg: algorithm, privateKey, x5c, certPem: certs.join('\n') + '\n', certFile: path.resolve(certFile) };
}
