import type { Db, Tx } from '../db/open';
import { deleteGrantsIssuedBefore, findGrant, upsertGrant } from './store';

/**
 * Which address a registry event came from. The registry fills an event's address from the
 * client's X-Forwarded-For, so it proves nothing; the token request that authorized the operation
 * came to Wharf and its address is checked (see clientIp). Each grant of a repository to a subject
 * is remembered with its address; an event by that subject on that repository is pinned to the
 * address only while exactly one address can hold a valid token for it.
 */

/** The registry accepts a token this long after its expiry. */
export const REGISTRY_EXPIRY_LEEWAY_MS = 60_000;

/**
 * A grant repeated from the same address within this long is not written again: a busy client
 * asks for a token per layer, and each write is a commit. The recorded issue time is then at most
 * this much older than the newest token, which can only turn a late event's address into none.
 */
const REFRESH_GRANT_MS = 30_000;

/** Remembers that `subject` ('' for anonymous) was granted these repositories from `ip` now. */
export async function recordGrants(db: Tx, subject: string, repositories: string[], ip: string | null, nowMs: number, lifetimeSeconds: number): Promise<void> {
  const validMs = lifetimeSeconds * 1000 + REGISTRY_EXPIRY_LEEWAY_MS;
  const refreshMs = Math.min(REFRESH_GRANT_MS, (lifetimeSeconds * 1000) / 4);
  for (const repository of repositories) {
    const known = await findGrant(db, subject, repository);
    // A new address always counts at once: it decides whether events can be pinned to one.
    if (known && known.ip === ip && nowMs - known.issuedAtMs < refreshMs) continue;
    await upsertGrant(db, { subject, repository, ip, now: nowMs, validMs });
  }
}

/**
 * The address of the token behind an event by `subject` on `repository` at `atMs`, or null when
 * no unexpired grant explains it or several addresses could have held one.
 */
export async function grantAddress(db: Tx, subject: string, repository: string, atMs: number, lifetimeSeconds: number): Promise<string | null> {
  const grant = await findGrant(db, subject, repository);
  if (!grant || grant.ip === null) return null;
  if (atMs > grant.issuedAtMs + lifetimeSeconds * 1000 + REGISTRY_EXPIRY_LEEWAY_MS) return null;
  // Before this address asked, or while another address's token may still be in use.
  if (atMs < grant.ipSinceMs || atMs <= grant.ambiguousUntilMs) return null;
  return grant.ip;
}

/** How long past a token's validity its grant is kept, for events the registry delivers late (it retries). */
export const GRANT_KEPT_MS = 60 * 60_000;

/** Removes up to `batch` grants no event can be pinned to any more; returns how many. */
export async function pruneGrants(db: Db, nowMs: number, lifetimeSeconds: number, batch = 5000): Promise<number> {
  const before = nowMs - lifetimeSeconds * 1000 - REGISTRY_EXPIRY_LEEWAY_MS - GRANT_KEPT_MS;
  return deleteGrantsIssuedBefore(db, before, batch);
}

