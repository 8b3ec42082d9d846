/**
 * A failure worth trying again (network, 5xx, 429). The runner retries any thrown error whose
 * `retryable` is true (duck-typed: transfer's TransferError sets it too), after
 * max(retryAfterMs, backoff) when retryAfterMs is set. Any other thrown error fails the task.
 */
export class RetryableError extends Error {
  readonly retryable = true;

  constructor(
    message: string,
    readonly retryAfterMs?: number,
    /** A wait, not a failure (the read-only window): the try does not count against maxAttempts. */
    readonly uncounted = false,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

/** What the runner reads off a thrown error: whether to try again, and how long the other side asked to wait. */
export function retryHint(err: unknown): { retryable: boolean; retryAfterMs: number | null; uncounted?: boolean } {
  if (typeof err !== 'object' || err === null) return { retryable: false, retryAfterMs: null };
  const { retryable, retryAfterMs, uncounted } = err as { retryable?: unknown; retryAfterMs?: unknown; uncounted?: unknown };
  return {
    retryable: retryable === true,
    ...(uncounted === true ? { uncounted: true } : {}),
    retryAfterMs: typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : null,
  };
}
