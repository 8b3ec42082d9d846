import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../clock';

interface CacheEntry {
  userId: number;
  credentialVersion: number;
  expiresAt: number;
}

/**
 * Remembers verified credentials for a short time so that a pull of many layers does not pay the
 * password hash on every token request. Keys are an HMAC of user and password under a per-process
 * secret, so the map never holds anything a password could be recovered from.
 *
 * It only saves the hash: a hit counts once the user row, read again on that very request, has
 * the same id, is not disabled and has the credential version the entry was made with, so a
 * password change, disable or delete on any instance sharing the database is refused at once by
 * all of them, and `dropUser` only frees memory. No invalidation across instances (LISTEN/NOTIFY)
 * is needed; what it cannot see is a password changed inside the LDAP directory, which a hit
 * keeps accepting until the entry expires, on every instance alike.
 */
export class CredentialCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly maxEntries = 10_000,
  ) {}

  key(username: string, password: string): string {
    return createHmac('sha256', this.secret).update(username).update('\0').update(password).digest('base64url');
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, userId: number, credentialVersion: number): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { userId, credentialVersion, expiresAt: this.clock.now() + this.ttlMs });
  }

  /** Forgets every credential of a user (password change, disable, delete). */
  dropUser(userId: number): void {
    for (const [key, entry] of this.entries) if (entry.userId === userId) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
