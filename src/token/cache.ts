import { issuedAtOf, type SignedToken } from './issue';

/** The longest a signed token is handed out again, whatever its lifetime. */
export const MAX_REUSE_MS = 10_000;
/** ... and never longer than this share of its lifetime. */
export const MAX_REUSE_SHARE = 0.05;
/** A reused token must still have at least this many seconds to live (the documented minimum of expires_in). */
export const MIN_EXPIRES_IN = 60;

interface Entry extends SignedToken {
  /** `iat` as RFC 3339, the response's issued_at. */
  issuedAt: string;
  /** Clock time (ms) the token was signed at. */
  signedAtMs: number;
  /** How long (ms) after signing the token may be handed out again. */
  reuseMs: number;
}

export interface ReusedToken {
  token: string;
  /** Seconds the token has left, counted like a fresh token's: `exp` minus the current second. */
  expiresIn: number;
  /** The token's real issue time (its `iat`), RFC 3339. */
  issuedAt: string;
}

/**
 * Signed registry tokens, kept for a few seconds so that a burst of identical token requests (a
 * pull of many layers, a CI fleet) shares one signature instead of paying one each.
 *
 * It only saves the signature: the caller authenticates and decides access on every request and
 * looks the token up by the exact outcome (principal, subject and granted access list), so a
 * disabled user, a changed role or a revoked credential takes effect at once — the new request
 * either fails or asks for a different key. A token is reused for at most `MAX_REUSE_MS` and at
 * most 5 % of its lifetime, and only while it has at least `MIN_EXPIRES_IN` seconds left.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = 1000) {}

  /** How long after signing a token of this lifetime (seconds) may be reused, in ms. */
  static reuseWindowMs(expiresIn: number): number {
    return Math.max(0, Math.min(MAX_REUSE_MS, expiresIn * 1000 * MAX_REUSE_SHARE));
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, nowMs: number): ReusedToken | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (!this.reusable(entry, nowMs)) {
      this.entries.delete(key);
      return undefined;
    }
    return { token: entry.token, expiresIn: entry.exp - Math.floor(nowMs / 1000), issuedAt: entry.issuedAt };
  }

  /** Remembers a token just signed at `nowMs` with a lifetime of `expiresIn` seconds. */
  set(key: string, signed: SignedToken, nowMs: number, expiresIn: number): void {
    const reuseMs = TokenCache.reuseWindowMs(expiresIn);
    if (reuseMs <= 0) return;
    this.entries.delete(key);
    this.sweep(nowMs);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { token: signed.token, iat: signed.iat, exp: signed.exp, issuedAt: issuedAtOf(signed.iat), signedAtMs: nowMs, reuseMs });
  }

  clear(): void {
    this.entries.clear();
  }

  private reusable(entry: Entry, nowMs: number): boolean {
    const age = nowMs - entry.signedAtMs;
    // A clock that went backwards reuses nothing.
    return age >= 0 && age < entry.reuseMs && entry.exp - Math.floor(nowMs / 1000) >= MIN_EXPIRES_IN;
  }

  /** Drops stale entries from the front (the oldest), so the map holds little more than the live window. */
  private sweep(nowMs: number): void {
    for (const [key, entry] of this.entries) {
      if (this.reusable(entry, nowMs)) break;
      this.entries.delete(key);
    }
  }
}
