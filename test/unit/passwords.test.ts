import { execFileSync } from 'node:child_process';
import { scryptSync } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decoyHash, hashKind, hashPassword, randomSecret, verifyPassword } from '../../src/identity/passwords';

/** Local scrypt hashes and bcrypt hashes imported from htpasswd files. */

const SCRYPT_RE = /^scrypt\$16384\$8\$1\$([A-Za-z0-9+/]{22}==)\$([A-Za-z0-9+/]{43}=)$/;

/** One htpasswd line for user:password made by Apache's own tool, as an operator would import it. */
function htpasswd(flag: string, password: string): string {
  const line = execFileSync('htpasswd', ['-nb' + flag, 'user', password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  expect(line.startsWith('user:')).toBe(true);
  return line.slice('user:'.length);
}

describe('hashPassword', () => {
  it('writes scrypt$N$r$p$salt$hash with a 16-byte salt and a 32-byte key', async () => {
    const hash = await hashPassword('correct horse');
    const m = SCRYPT_RE.exec(hash);
    expect(m).not.toBeNull();
    expect(Buffer.from(m![1]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(m![2]!, 'base64')).toHaveLength(32);
    expect(hash).not.toContain('correct horse');
  });

  it('is the scrypt of the password with that salt and those parameters', async () => {
    const hash = await hashPassword('pw');
    const [, , , , salt, key] = hash.split('$');
    expect(scryptSync('pw', Buffer.from(salt!, 'base64'), 32, { N: 16384, r: 8, p: 1 }).toString('base64')).toBe(key);
  });

  it('salts every hash', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
  });
});

describe('verifyPassword with scrypt', () => {
  let hash: string;
  beforeAll(async () => {
    hash = await hashPassword('s3cret-Pässwörd 🐳');
  });

  it('accepts the right password', async () => {
    expect(await verifyPassword('s3cret-Pässwörd 🐳', hash)).toBe(true);
  });

  it.each(['', 's3cret-Pässwörd', 's3cret-Pässwörd 🐳 ', 'S3cret-Pässwörd 🐳', 's3cret-Passwörd 🐳'])('refuses %j', async (wrong) => {
    expect(await verifyPassword(wrong, hash)).toBe(false);
  });

  it('refuses when the stored key was altered', async () => {
    const parts = hash.split('$');
    const key = Buffer.from(parts[5]!, 'base64');
    key[0] = key[0]! ^ 1;
    parts[5] = key.toString('base64');
    expect(await verifyPassword('s3cret-Pässwörd 🐳', parts.join('$'))).toBe(false);
  });

  it('refuses when the stored salt was altered', async () => {
    const parts = hash.split('$');
    const salt = Buffer.from(parts[4]!, 'base64');
    salt[0] = salt[0]! ^ 1;
    parts[4] = salt.toString('base64');
    expect(await verifyPassword('s3cret-Pässwörd 🐳', parts.join('$'))).toBe(false);
  });

  it('reads N, r, p and the key length from the hash (older or tuned hashes keep working)', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const key = scryptSync('old', salt, 64, { N: 1024, r: 4, p: 2 });
    const old = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(hashKind(old)).toBe('scrypt');
    expect(await verifyPassword('old', old)).toBe(true);
    expect(await verifyPassword('new', old)).toBe(false);
  });

  it('refuses a scrypt hash with the wrong number of fields', async () => {
    expect(await verifyPassword('x', 'scrypt$16384$8$1$c2FsdA==')).toBe(false);
    expect(await verifyPassword('x', `${hash}$extra`)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$')).toBe(false);
  });

  it('the decoy hash is a scrypt hash no ordinary password matches', async () => {
    expect(decoyHash).toMatch(SCRYPT_RE);
    expect(await verifyPassword('', decoyHash)).toBe(false);
    expect(await verifyPassword('admin', decoyHash)).toBe(false);
  });

  // A stored key too short to mean anything (empty buffers compare equal) never verifies.
  it('refuses every password against a scrypt hash with an empty key', async () => {
    expect(await verifyPassword('anything at all', 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$')).toBe(false);
  });

  it('answers false (does not throw) for a scrypt hash with malformed parameters', async () => {
    await expect(verifyPassword('x', 'scrypt$abc$8$1$c2FsdA==$AAAA')).resolves.toBe(false);
  });
});

describe('verifyPassword with bcrypt from htpasswd', () => {
  it('verifies an htpasswd -B ($2y$) hash', async () => {
    const hash = htpasswd('B', 'pass');
    expect(hash).toMatch(/^\$2y\$\d\d\$/);
    expect(hashKind(hash)).toBe('bcrypt');
    expect(await verifyPassword('pass', hash)).toBe(true);
    expect(await verifyPassword('Pass', hash)).toBe(false);
    expect(await verifyPassword('pass ', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
  });

  it('verifies an htpasswd -B hash of a password with spaces and non-ASCII letters', async () => {
    const hash = htpasswd('B', 'grüne Äpfel');
    expect(await verifyPassword('grüne Äpfel', hash)).toBe(true);
    expect(await verifyPassword('grune Apfel', hash)).toBe(false);
  });

  it('verifies an htpasswd -B -C 4 hash (other cost)', async () => {
    const line = execFileSync('htpasswd', ['-nbB', '-C', '4', 'user', 'pass'], { encoding: 'utf8' }).trim();
    const hash = line.slice('user:'.length);
    expect(hash.startsWith('$2y$04$')).toBe(true);
    expect(await verifyPassword('pass', hash)).toBe(true);
  });

  it.each(['$2a$', '$2b$'])('verifies %s hashes', async (prefix) => {
    const hash = bcrypt.hashSync('pass', 4).replace(/^\$2[ab]\$/, prefix);
    expect(hashKind(hash)).toBe('bcrypt');
    expect(await verifyPassword('pass', hash)).toBe(true);
    expect(await verifyPassword('nope', hash)).toBe(false);
  });

  it('refuses a truncated bcrypt hash', async () => {
    const hash = htpasswd('B', 'pass').slice(0, -1);
    expect(hashKind(hash)).toBe('unknown');
    expect(await verifyPassword('pass', hash)).toBe(false);
  });
});

describe('unknown hash kinds', () => {
  it.each([
    ['MD5 ($apr1$)', 'm'],
    ['SHA-1 ({SHA})', 's'],
    ['plain text', 'p'],
  ])('htpasswd %s is unknown and never verifies, even with the right password', async (_label, flag) => {
    const hash = htpasswd(flag, 'pass');
    expect(hashKind(hash)).toBe('unknown');
    expect(await verifyPassword('pass', hash)).toBe(false);
  });

  it.each(['', 'pass', '*', '!', '$6$salt$abcdef', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'SCRYPT$16384$8$1$a$b', ' scrypt$16384$8$1$a$b'])(
    '%j is unknown and never verifies',
    async (hash) => {
      expect(hashKind(hash)).toBe('unknown');
      expect(await verifyPassword(hash, hash)).toBe(false);
      expect(await verifyPassword('pass', hash)).toBe(false);
    },
  );
});

describe('hashKind', () => {
  it('recognises the kinds', async () => {
    expect(hashKind(await hashPassword('x'))).toBe('scrypt');
    expect(hashKind(bcrypt.hashSync('x', 4))).toBe('bcrypt');
    expect(hashKind(htpasswd('B', 'x'))).toBe('bcrypt');
    expect(hashKind('$2x$05$' + 'a'.repeat(53))).toBe('unknown');
    expect(hashKind('$2y$5$' + 'a'.repeat(53))).toBe('unknown');
    expect(hashKind('$2y$05$' + 'a'.repeat(53) + '\n')).toBe('unknown');
  });
});

describe('randomSecret', () => {
  it('is base64url of the requested size and different every time', () => {
    const a = randomSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomSecret()).not.toBe(a);
    expect(Buffer.from(randomSecret(16), 'base64url')).toHaveLength(16);
  });
});
