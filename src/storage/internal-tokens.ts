import type { Clock } from '../clock';
import type { Config } from '../config/schema';
import type { Tx } from '../db/open';
import { AppError } from '../errors';
import type { AccessEntry } from '../token/issue';
import type { TokenSigner } from '../token/signer';
import { notePushTokens, readOnlyError, readOnlyState } from './state';

/** How long a job refused by the read-only window waits before it tries again. */
const WINDOW_RETRY_MS = 30_000;

/**
 * A refusal of the read-only window to one of Wharf's own writers: 503 read_only for a request,
 * and for a job task a wait (retryable, not counted against its attempts), so a copy resumes from
 * its checkpoint once the window is over.
 */
export class ReadOnlyRefusal extends AppError {
  readonly retryable = true;
  readonly uncounted = true;
  readonly retryAfterMs = WINDOW_RETRY_MS;
}

const writes = (access: AccessEntry[]) => access.some((a) => a.type === 'repository' && (a.actions.includes('push') || a.actions.includes('delete')));

/**
 * The token source of Wharf's own calls to its registry (its client, replication into it). A token
 * carrying push or delete is refused while the window is on; every one minted lasts the push token
 * lifetime and is noted first (strictly: no note, no token), so garbage collection waits for it.
 */
export function internalTokenSource(deps: { db: Tx; clock: Clock; config: Config; tokenSigner: TokenSigner }, subject: string) {
  const { config } = deps;
  return async (access: AccessEntry[]): Promise<{ token: string; expiresIn: number }> => {
    let expiresIn = config.token.expiresIn;
    if (writes(access)) {
      const state = await readOnlyState(deps.db);
      if (state.readOnly) {
        const e = readOnlyError(state);
        throw new ReadOnlyRefusal(e.status, e.code, e.message, e.headers, e.key, e.params);
      }
      expiresIn = Math.min(config.token.expiresIn, config.storage.pushTokenExpiresIn ?? config.token.expiresIn);
      const nowMs = deps.clock.now();
      await notePushTokens(deps.db, nowMs + expiresIn * 1000);
      return deps.tokenSigner.issue({ issuer: config.token.issuer, service: config.token.service, subject, access, expiresIn, nowMs });
    }
    return deps.tokenSigner.issue({ issuer: config.token.issuer, service: config.token.service, subject, access, expiresIn, nowMs: deps.clock.now() });
  };
}
