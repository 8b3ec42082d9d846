// stand-in: replaced by the transfer branch
import { Agent, request, type Dispatcher } from 'undici';
import type { TokenSource } from '../registry/client';

/** How to reach a registry: remote ones with credentials (answering their 401 challenge, Bearer or
 *  Basic), Wharf's own supervised registry with `tokenSource` (tokens Wharf mints itself). */
export interface RegistryEndpoint {
  url: string;
  username?: string | null;
  password?: string | null;
  caPem?: string | null;
  insecure?: boolean;
  tokenSource?: TokenSource;
}

export interface PingResult {
  ok: boolean;
  auth: 'none' | 'basic' | 'bearer';
  error?: string;
}

/** Every failure of a registry call: retryable for network errors, 5xx and 429 (retryAfterMs from Retry-After). */
export class TransferError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** `Bearer realm="…",service="…"` → its scheme and parameters. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.trim().split(/\s+/, 1)[0]!.toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return { scheme, params };
}

export class RemoteRegistry {
  private readonly dispatcher: Dispatcher;
  private readonly url: string;

  constructor(
    private readonly endpoint: RegistryEndpoint,
    opts: { timeoutMs?: number } = {},
  ) {
    this.url = endpoint.url.replace(/\/+$/, '');
    const timeout = opts.timeoutMs ?? 10_000;
    this.dispatcher = new Agent({
      connect: { ...(endpoint.caPem ? { ca: endpoint.caPem } : {}), rejectUnauthorized: !endpoint.insecure },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connectTimeout: timeout,
    });
  }

  private basic(): string | null {
    const { username, password } = this.endpoint;
    return username ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : null;
  }

  private async get(url: string, authorization: string | null) {
    const res = await request(url, { dispatcher: this.dispatcher, headers: authorization ? { authorization } : {} });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  /** A token from the challenge's realm, asked with the credentials (Basic) when there are any. */
  private async bearerToken(params: Record<string, string>): Promise<string | { refused: string }> {
    if (this.endpoint.tokenSource) return (await this.endpoint.tokenSource([])).token;
    if (!params.realm) return { refused: 'the registry asked for a token but named no realm' };
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    const answer = await this.get(realm.toString(), this.basic());
    if (answer.status === 401 || answer.status === 403) return { refused: `the token service refused the credentials (${answer.status})` };
    if (answer.status !== 200) return { refused: `the token service answered ${answer.status}` };
    const body = JSON.parse(answer.text) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    return token ?? { refused: 'the token service answered without a token' };
  }

  /** GET /v2/ then, if challenged, with the credentials: ok only when they are accepted. Never throws. */
  async ping(): Promise<PingResult> {
    let auth: PingResult['auth'] = 'none';
    try {
      const first = await this.get(`${this.url}/v2/`, null);
      if (first.status === 200) return { ok: true, auth };
      if (first.status !== 401) return { ok: false, auth, error: `not a registry: GET /v2/ answered ${first.status}` };
      const header = first.headers['www-authenticate'];
      const { scheme, params } = parseChallenge(Array.isArray(header) ? header[0]! : (header ?? ''));
      if (scheme === 'basic') {
        auth = 'basic';
        const basic = this.basic();
        if (!basic) return { ok: false, auth, error: 'the registry asks for a user name and password' };
        const second = await this.get(`${this.url}/v2/`, basic);
        return second.status === 200 ? { ok: true, auth } : { ok: false, auth, error: `the registry refused the credentials (${second.status})` };
      }
      if (scheme !== 'bearer') return { ok: false, auth, error: `the registry asks for an unknown authentication scheme (${scheme || 'none'})` };
      auth = 'bearer';
      const token = await this.bearerToken(params);
      if (typeof token !== 'string') return { ok: false, auth, error: token.refused };
      const second = await this.get(`${this.url}/v2/`, `Bearer ${token}`);
      return second.status === 200 ? { ok: true, auth } : { ok: false, auth, error: `the registry refused the token (${second.status})` };
    } catch (err) {
      return { ok: false, auth, error: `cannot reach the registry: ${(err as Error).message}` };
    }
  }

  catalog(): Promise<string[]> {
    return Promise.reject(new TransferError('catalog is not in the stand-in', false));
  }

  tags(_repository: string): Promise<string[]> {
    return Promise.reject(new TransferError('tags is not in the stand-in', false));
  }

  headManifest(_repository: string, _reference: string): Promise<{ digest: string; mediaType: string; size: number } | null> {
    return Promise.reject(new TransferError('headManifest is not in the stand-in', false));
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
