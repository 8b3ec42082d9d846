import type { Db } from '../db/open';
import { AppError } from '../errors';
import { hashKind } from './passwords';
import type { Actor } from './principal';
import { createUser } from './users';
import { canonicalName, MAX_USERNAME_LENGTH, usernameProblem } from './names';

/** One `user:hash` line of an htpasswd file. */
export interface HtpasswdEntry {
  line: number;
  username: string;
  hash: string;
}

/** A line or user that was not imported, and why. Never holds the hash. */
export interface HtpasswdSkip {
  line: number;
  username: string | null;
  reason: string;
}

export interface HtpasswdImportReport {
  imported: { line: number; username: string }[];
  skipped: HtpasswdSkip[];
}

/**
 * Splits an htpasswd file into entries and malformed lines. Blank lines and `#` comments are
 * ignored; a line is `user:hash`, split on the first colon.
 */
export function parseHtpasswd(text: string): { entries: HtpasswdEntry[]; malformed: HtpasswdSkip[] } {
  const entries: HtpasswdEntry[] = [];
  const malformed: HtpasswdSkip[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (text === '' || text.startsWith('#')) return;
    const at = text.indexOf(':');
    if (at <= 0 || at === text.length - 1) {
      malformed.push({ line, username: null, reason: 'malformed line (expected user:hash)' });
      return;
    }
    entries.push({ line, username: text.slice(0, at), hash: text.slice(at + 1) });
  });
  return { entries, malformed };
}

/** Why a hash cannot be imported, or null for a bcrypt hash (the only kind Wharf verifies). */
export function unsupportedHashReason(hash: string): string | null {
  if (hashKind(hash) === 'bcrypt') return null;
  const kind = hash.startsWith('$apr1$')
    ? 'an MD5 (apr1) hash'
    : hash.startsWith('{SHA}')
      ? 'a SHA-1 hash'
      : hash.startsWith('$1$')
        ? 'an MD5-crypt hash'
        : hash.startsWith('$5$')
          ? 'a SHA-256-crypt hash'
          : hash.startsWith('$6$')
            ? 'a SHA-512-crypt hash'
            : /^\$2[abxy]?\$/.test(hash)
              ? 'a malformed bcrypt hash'
              : /^[./0-9A-Za-z]{13}$/.test(hash)
                ? 'a DES crypt hash'
                : 'a plain-text password or an unknown hash';
  return `${kind}; only bcrypt hashes (htpasswd -B) can be imported`;
}

/**
 * Creates a user (source `htpasswd`, not an admin) for every line with a bcrypt hash; the hash is
 * kept as it is and replaced by an scrypt hash on the user's first successful login. Existing users
 * are never changed. Each created user is audited (`user_create`) by createUser.
 */
export async function importHtpasswd(db: Db, text: string, actor: Actor): Promise<HtpasswdImportReport> {
  const { entries, malformed } = parseHtpasswd(text);
  const report: HtpasswdImportReport = { imported: [], skipped: [...malformed] };
  const seen = new Map<string, number>();
  for (const entry of entries) {
    const skip = (reason: string) => report.skipped.push({ line: entry.line, username: entry.username, reason });
    const problem = usernameProblem(entry.username);
    if (problem === 'user.badName') {
      skip(`invalid user name (1-${MAX_USERNAME_LENGTH} characters, no colon, no control characters, no leading or trailing space)`);
      continue;
    }
    if (problem) {
      skip('reserved user name (robot accounts and the audit log use such names)');
      continue;
    }
    const first = seen.get(canonicalName(entry.username));
    if (first !== undefined) {
      skip(`listed again (first on line ${first}; names are unique regardless of case)`);
      continue;
    }
    seen.set(canonicalName(entry.username), entry.line);
    const unsupported = unsupportedHashReason(entry.hash);
    if (unsupported) {
      skip(unsupported);
      continue;
    }
    try {
      await createUser({ db, actor }, { username: entry.username, passwordHash: entry.hash, source: 'htpasswd' });
      report.imported.push({ line: entry.line, username: entry.username });
    } catch (err) {
      if (err instanceof AppError && err.status === 409) skip('already exists (left unchanged)');
      else if (err instanceof AppError) skip(err.message);
      else throw err;
    }
  }
  report.skipped.sort((a, b) => a.line - b.line);
  return report;
}
