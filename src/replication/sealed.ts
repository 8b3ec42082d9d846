import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The key that seals the stored registry passwords; in the data directory beside the signing key, never in the database. */
export const REPLICATION_KEY_FILE = 'replication.key';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Writes a new key whole, and only when there is none, so two starts on one directory never replace each other's. */
function createKeyFile(file: string): void {
  if (existsSync(file)) return;
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, randomBytes(KEY_BYTES), { mode: 0o600 });
  try {
    linkSync(partial, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(partial);
  }
}

/**
 * AES-256-GCM with a random IV per value; the additional data (a registry's name) binds a sealed
 * value to its row, so a sealed password copied onto another registry does not open.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The key of `dataDir` (made, 0600, when missing); several instances share it by copying the file. */
  static load(dataDir: string): SecretBox {
    const file = path.join(dataDir, REPLICATION_KEY_FILE);
    createKeyFile(file);
    chmodSync(file, 0o600);
    const key = readFileSync(file);
    if (key.length !== KEY_BYTES) throw new Error(`${file} must hold ${KEY_BYTES} bytes, it holds ${key.length}; restore it from a backup`);
    return new SecretBox(key);
  }

  /** Base64 of IV, tag and ciphertext. */
  seal(plain: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** Throws when the value was sealed under another key or for another name. */
  open(sealed: string, aad: string): string {
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}
