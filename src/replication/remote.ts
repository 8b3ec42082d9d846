// stand-in: replaced by the transfer branch
import type { TokenSource } from '../registry/client';

/** How to reach a registry: remote ones with credentials, Wharf's own supervised registry with `tokenSource`. */
export interface RegistryEndpoint { url: string; username?: string | null; password?: string | null; caPem?: string | null; insecure?: boolean; tokenSource?: TokenSource }
export interface PingResult { ok: boolean; auth: 'none' | 'basic' | 'bearer'; error?: string }

/** Every failure of a registry call: retryable for network errors, 5xx and 429. */
export class TransferError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
  }
}

export class RemoteRegistry {
  constructor(readonly endpoint: RegistryEndpoint, readonly opts: { timeoutMs?: number } = {}) {}
  ping(): Promise<PingResult> {
    return Promise.resolve({ ok: false, auth: 'none', error: 'not built yet' });
  }
  catalog(): Promise<string[]> {
    return Promise.reject(new TransferError('not built yet', false));
  }
  tags(_repository: string): Promise<string[]> {
    return Promise.reject(new TransferError('not built yet', false));
  }
  headManifest(_repository: string, _reference: string): Promise<{ digest: string; mediaType: string; size: number } | null> {
    return Promise.reject(new TransferError('not built yet', false));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
