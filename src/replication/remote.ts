import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { AccessEntry } from '../token/issue';
import { deleteAccess, nextLink, pullAccess, pushAccess, type ManifestHead, type TokenSource } from '../registry/client';
import { ReadOnlyRefusal } from '../storage/internal-tokens';
import { MANIFEST_ACCEPT } from '../registry/media-types';

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
    this.name = 'TransferError';
  }
}

type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | null; scope: string | null };

type Answer = Dispatcher.ResponseData;

/** A request body made afresh for each attempt, as a stream cannot be sent twice. */
type BodySource = () => Promise<Readable | Buffer | string> | Readable | Buffer | string;

interface CallOptions {
  headers?: Record<string, string>;
  body?: BodySource;
  signal?: AbortSignal | undefined;
  /** Answers the caller handles itself; any other status becomes a TransferError. */
  expect: readonly number[];
}

/** Tokens are renewed this long before the registry would refuse them, so a long upload does not meet a 401 mid-body. */
const TOKEN_RENEWAL_MARGIN_MS = 30_000;
const MAX_REDIRECTS = 5;

/** The most bytes read of one answer of each kind: a hostile registry's endless body ends the call, not Wharf's memory. */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;
const LISTING_PAGE_MAX_BYTES = 16 * 1024 * 1024;
const TOKEN_ANSWER_MAX_BYTES = 1024 * 1024;
const ERROR_BODY_MAX_BYTES = 64 * 1024;
/** The most names a paged listing gathers (a Link that never ends is refused past it). */
const LISTING_MAX_NAMES = 1_000_000;

const catalogAccess: AccessEntry[] = [{ type: 'registry', name: 'catalog', actions: ['*'] }];

const scopeOf = (access: AccessEntry[]): string[] => access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`);

/** Parses `Bearer realm="…",service="…"` or `Basic realm="…"`; null for anything else. */
export function parseChallenge(header: string | string[] | undefined): Challenge | null {
  const value = Array.isArray(header) ? header.find((h) => /^bearer\s/i.test(h)) ?? header[0] : header;
  if (!value) return null;
  const scheme = /^\s*(\w+)/.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return null;
  const params: Record<string, string> = {};
  for (const m of value.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  if (!params.realm) return null;
  return { scheme: 'bearer', realm: params.realm, service: params.service ?? null, scope: params.scope ?? null };
}

/** Retry-After as milliseconds: seconds or an HTTP date. */
export function retryAfterMs(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The body whole, or a TransferError (not retryable) once it passes `max` bytes. */
async function boundedBody(res: Answer, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? 0);
  const tooLarge = () => new TransferError(`${what}: the answer is larger than ${max} bytes`, false, res.statusCode);
  if (declared > max) {
    res.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function boundedJson(res: Answer, max: number, what: string): Promise<unknown> {
  const body = await boundedBody(res, max, what);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new TransferError(`${what}: the answer is not JSON`, false, res.statusCode);
  }
}

/** The reason a registry gives in its `{"errors":[{code,message}]}` body, as ": CODE: message", else empty. */
async function reasonOf(res: Answer): Promise<string> {
  const text = await boundedBody(res, ERROR_BODY_MAX_BYTES, 'error').then(
    (b) => b.toString('utf8'),
    () => '',
  );
  try {
    const first = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (first) return `: ${[first.code, first.message].filter(Boolean).join(': ').slice(0, 500)}`;
  } catch {
    // not a registry error body
  }
  return '';
}

/** 5xx and 429 are worth trying again; 400, 401 after credentials, 403, 404 are not. */
async function failure(what: string, res: Answer): Promise<TransferError> {
  const status = res.statusCode;
  const reason = await reasonOf(res);
  const retryable = status >= 500 || status === 429;
  return new TransferError(`${what}: ${status}${reason}`, retryable, status, retryable ? retryAfterMs(res.headers['retry-after']) : undefined);
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
}

/** A registry URL without user info, for messages (credentials never go into one). */
function displayUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.origin;
}

/** A Distribution API client for replication: another registry, or Wharf's own with minted tokens. */
export class RemoteRegistry {
  /** scheme://host:port: two endpoints with the same origin are one registry (blobs can be mounted). */
  readonly origin: string;
  private readonly base: string;
  private readonly dispatcher: Agent;
  private challenge: Challenge | null | undefined;
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly endpoint: RegistryEndpoint,
    opts: { timeoutMs?: number } = {},
  ) {
    const url = new URL(endpoint.url);
    this.origin = url.origin;
    this.base = url.origin + url.pathname.replace(/\/+$/, '');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connections: 16,
      connect: { ...(endpoint.caPem ? { ca: endpoint.caPem } : {}), rejectUnauthorized: !endpoint.insecure, timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (endpoint.tokenSource) this.challenge = null;
  }

  private basic(): string | null {
    if (!this.endpoint.username) return null;
    return `Basic ${Buffer.from(`${this.endpoint.username}:${this.endpoint.password ?? ''}`).toString('base64')}`;
  }

  /** The token endpoint's answer for these scopes, with the endpoint's credentials (anonymous without). */
  private async fetchToken(challenge: Extract<Challenge, { scheme: 'bearer' }>, scopes: string[], signal?: AbortSignal): Promise<{ token: string; until: number }> {
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const scope of scopes.length ? scopes : challenge.scope ? challenge.scope.split(' ') : []) url.searchParams.append('scope', scope);
    const basic = this.basic();
    // As docker does, the password goes to a realm on another host, but only over TLS.
    if (basic && url.protocol !== 'https:' && url.hostname !== new URL(this.base).hostname)
      throw new TransferError(
        `the registry at ${displayUrl(this.base)} sends token requests to ${displayUrl(challenge.realm)}, another host over plain HTTP: Wharf does not send the registry's password there`,
        false,
        401,
      );
    let res: Answer;
    try {
      res = await request(url, { dispatcher: this.dispatcher, headers: basic ? { authorization: basic } : {}, signal });
    } catch (err) {
      throw this.networkError(`token from ${displayUrl(challenge.realm)}`, err, signal);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      const reason = await reasonOf(res);
      throw new TransferError(`the token service at ${displayUrl(challenge.realm)} refused the credentials (${res.statusCode})${reason}`, false, res.statusCode);
    }
    if (res.statusCode !== 200) throw await failure(`token from ${displayUrl(challenge.realm)}`, res);
    const body = ((await boundedJson(res, TOKEN_ANSWER_MAX_BYTES, `token from ${displayUrl(challenge.realm)}`).catch(() => ({}))) ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: number };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : null;
    if (!token) throw new TransferError(`token from ${displayUrl(challenge.realm)}: no token in the answer`, false, 200);
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { token, until: Date.now() + Math.max(expiresIn * 1000 - TOKEN_RENEWAL_MARGIN_MS, 10_000) };
  }

  /** The Authorization header for these access entries under the challenge known so far. */
  private async authorization(access: AccessEntry[], signal?: AbortSignal): Promise<string | null> {
    const scopes = scopeOf(access);
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.until > Date.now()) return `Bearer ${cached.token}`;
    if (this.endpoint.tokenSource) {
      const { token, expiresIn } = await this.endpoint.tokenSource(access);
      this.remember(key, { token, until: Date.now() + Math.max(expiresIn * 1000 - TOKEN_RENEWAL_MARGIN_MS, 10_000) });
      return `Bearer ${token}`;
    }
    const challenge = this.challenge;
    if (!challenge) return null;
    if (challenge.scheme === 'basic') return this.basic();
    const fresh = await this.fetchToken(challenge, scopes, signal);
    this.remember(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  private remember(key: string, token: { token: string; until: number }): void {
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(key, token);
  }

  private networkError(what: string, err: unknown, signal?: AbortSignal): Error {
    if (signal?.aborted) return abortReason(signal);
    if (err instanceof TransferError) return err;
    const e = err as Error & { code?: string };
    return new TransferError(`${what}: ${e.code ?? e.name}: ${e.message}`, true);
  }

  /**
   * One registry call: sends what the known challenge asks for; on a 401 learns the challenge (or,
   * with a token cached, fetches a new one) and tries once more. Any answer outside `expect`
   * becomes a TransferError.
   */
  private async call(method: Dispatcher.HttpMethod, pathOrUrl: string, access: AccessEntry[], what: string, opts: CallOptions): Promise<Answer> {
    const url = pathOrUrl.startsWith('/') ? `${this.base}${pathOrUrl}` : pathOrUrl;
    // Like docker's challenge manager: a URL the registry hands out on another host (an upload's Location, a Link) gets no credentials.
    const ownOrigin = new URL(url).origin === this.origin;
    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      let res: Answer;
      try {
        const authorization = ownOrigin ? await this.authorization(access, opts.signal) : null;
        res = await request(url, {
          method,
          dispatcher: this.dispatcher,
          headers: { ...(authorization ? { authorization } : {}), ...opts.headers },
          body: opts.body ? await opts.body() : null,
          signal: opts.signal,
        });
      } catch (err) {
        // A token refused by this registry's read-only window reaches the job runner as it is
        // (it waits, uncounted); any other failure, a token fetch's included, is a network error.
        if (err instanceof ReadOnlyRefusal) throw err;
        throw this.networkError(what, err, opts.signal);
      }
      if (res.statusCode === 401 && attempt === 0 && ownOrigin) {
        // A minted token is simply minted again; otherwise the challenge says what to send (a new token, or Basic).
        const challenge = this.endpoint.tokenSource ? null : parseChallenge(res.headers['www-authenticate']);
        const retry = this.endpoint.tokenSource !== undefined || (challenge !== null && (this.challenge?.scheme !== challenge.scheme || challenge.scheme === 'bearer'));
        if (retry) {
          await res.body.dump();
          if (challenge) this.challenge = challenge;
          this.tokens.delete(scopeOf(access).join(' '));
          continue;
        }
      }
      if (opts.expect.includes(res.statusCode)) return res;
      if (res.statusCode === 401) {
        const reason = await reasonOf(res);
        throw new TransferError(`${what}: the registry refused the credentials (401)${reason}`, false, 401);
      }
      throw await failure(what, res);
    }
  }

  /** GET /v2/ then, if challenged, with the credentials: ok only when they are accepted. Never throws. */
  async ping(): Promise<PingResult> {
    let auth: PingResult['auth'] = 'none';
    try {
      const first = await request(`${this.base}/v2/`, { dispatcher: this.dispatcher, signal: AbortSignal.timeout(10_000) });
      const challenge = first.statusCode === 401 ? parseChallenge(first.headers['www-authenticate']) : null;
      const apiVersion = first.headers['docker-distribution-api-version'];
      if (first.statusCode === 200 && !apiVersion) {
        const text = (await boundedBody(first, ERROR_BODY_MAX_BYTES, `GET ${displayUrl(this.base)}/v2/`)).toString('utf8');
        if (text.trim() !== '{}') return { ok: false, auth, error: `${displayUrl(this.base)} is not a registry: GET /v2/ answered without a Docker-Distribution-Api-Version header` };
      } else await first.body.dump();
      if (first.statusCode === 200) return { ok: true, auth };
      if (first.statusCode !== 401) return { ok: false, auth, error: `${displayUrl(this.base)} is not a registry: GET /v2/ answered ${first.statusCode}` };
      if (!challenge) return { ok: false, auth, error: `${displayUrl(this.base)}: GET /v2/ asked for an authentication Wharf does not speak` };
      auth = challenge.scheme;
      this.challenge = challenge;
      if (challenge.scheme === 'bearer') {
        const { token } = this.endpoint.tokenSource ? await this.endpoint.tokenSource([]) : await this.fetchToken(challenge, []);
        const second = await request(`${this.base}/v2/`, { dispatcher: this.dispatcher, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
        await second.body.dump();
        if (second.statusCode === 200) return { ok: true, auth };
        return { ok: false, auth, error: `the registry at ${displayUrl(this.base)} refused the token (${second.statusCode})` };
      }
      const basic = this.basic();
      if (!basic) return { ok: false, auth, error: `the registry at ${displayUrl(this.base)} asks for a user name and password` };
      const second = await request(`${this.base}/v2/`, { dispatcher: this.dispatcher, headers: { authorization: basic }, signal: AbortSignal.timeout(10_000) });
      await second.body.dump();
      if (second.statusCode === 200) return { ok: true, auth };
      return { ok: false, auth, error: `the registry at ${displayUrl(this.base)} refused the credentials (${second.statusCode})` };
    } catch (err) {
      const e = err as Error & { code?: string };
      return { ok: false, auth, error: e instanceof TransferError ? e.message : `cannot reach the registry at ${displayUrl(this.base)}: ${e.code ?? e.name}: ${e.message}` };
    }
  }

  private async paged<T>(first: string, access: AccessEntry[], what: string, read: (body: unknown) => T[], onMissing?: () => T[]): Promise<T[]> {
    const all: T[] = [];
    const visited = new Set<string>();
    let path: string | null = first;
    while (path) {
      visited.add(path);
      const res = await this.call('GET', path, access, what, { expect: onMissing ? [200, 404] : [200] });
      if (res.statusCode === 404) {
        await res.body.dump();
        return onMissing!();
      }
      const page = read(await boundedJson(res, LISTING_PAGE_MAX_BYTES, what));
      if (!Array.isArray(page)) throw new TransferError(`${what}: the answer is not a list`, false, 200);
      all.push(...page);
      if (all.length > LISTING_MAX_NAMES) throw new TransferError(`${what}: more than ${LISTING_MAX_NAMES} names`, false, 200);
      path = nextLink(res.headers.link);
      if (path && visited.has(path)) throw new TransferError(`${what}: the next page's link points back at a page already read`, false, 200);
    }
    return all;
  }

  /** Every repository of /v2/_catalog (paged by Link). A registry that refuses the catalog → TransferError (not retryable, status 401/403/404). */
  async catalog(): Promise<string[]> {
    try {
      return await this.paged('/v2/_catalog?n=1000', catalogAccess, 'catalog', (b) => (b as { repositories?: string[] } | null)?.repositories ?? []);
    } catch (err) {
      // A registry that keeps its catalog closed answers 401 even to good credentials.
      if (err instanceof TransferError && err.status === 401) throw new TransferError(`catalog: the registry refuses to list its repositories (${err.message})`, false, 401);
      throw err;
    }
  }

  /** Every tag (paged); a repository the registry does not know → []. */
  tags(repository: string): Promise<string[]> {
    return this.paged(`/v2/${repository}/tags/list?n=1000`, pullAccess(repository), `tags of ${repository}`, (b) => (b as { tags?: string[] | null } | null)?.tags ?? [], () => []);
  }

  async headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<ManifestHead | null> {
    const res = await this.call('HEAD', `/v2/${repository}/manifests/${reference}`, pullAccess(repository), `HEAD ${repository}:${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      expect: [200, 404],
      signal,
    });
    await res.body.dump();
    if (res.statusCode === 404) return null;
    return { digest: String(res.headers['docker-content-digest'] ?? ''), mediaType: String(res.headers['content-type'] ?? ''), size: Number(res.headers['content-length'] ?? 0) };
  }

  /** A manifest's bytes as stored (any kind); null when absent. */
  async getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<{ mediaType: string; body: Buffer } | null> {
    const res = await this.call('GET', `/v2/${repository}/manifests/${reference}`, pullAccess(repository), `GET ${repository}:${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      expect: [200, 404],
      signal,
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return null;
    }
    const body = await boundedBody(res, MANIFEST_MAX_BYTES, `GET ${repository}:${reference}`);
    return { mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), body };
  }

  async putManifest(repository: string, reference: string, mediaType: string, body: Buffer, signal?: AbortSignal): Promise<string> {
    const res = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, pushAccess(repository), `PUT manifest ${repository}:${reference}`, {
      headers: { 'content-type': mediaType },
      body: () => body,
      expect: [201],
      signal,
    });
    await res.body.dump();
    return String(res.headers['docker-content-digest'] ?? '');
  }

  /** DELETE of a manifest by digest (or by tag where the registry supports it): the status, and the registry's error code. */
  async deleteManifest(repository: string, reference: string): Promise<{ status: number; code?: string }> {
    const res = await this.call('DELETE', `/v2/${repository}/manifests/${reference}`, deleteAccess(repository), `DELETE ${repository}:${reference}`, {
      expect: [202, 400, 404, 405],
    });
    if (res.statusCode === 202) {
      await res.body.dump();
      return { status: 202 };
    }
    const code = (await reasonOf(res)).split(': ')[1];
    return { status: res.statusCode, ...(code ? { code } : {}) };
  }

  /** The blob's size when the registry has it in this repository, else null. */
  async headBlob(repository: string, digest: string, signal?: AbortSignal): Promise<number | null> {
    const res = await this.call('HEAD', `/v2/${repository}/blobs/${digest}`, pullAccess(repository), `HEAD blob ${digest} in ${repository}`, {
      expect: [200, 404, 307, 302],
      signal,
    });
    await res.body.dump();
    if (res.statusCode === 404) return null;
    return Number(res.headers['content-length'] ?? -1);
  }

  /**
   * The blob's bytes from `offset` on, `length` of them, as a stream (a Range request; storage
   * redirects followed without the registry's credentials). A registry that ignores the range
   * answers the whole blob (`partial` false): the bytes before `offset` are skipped, those past the range dropped.
   */
  async blobStream(repository: string, digest: string, offset: number, length: number, signal?: AbortSignal): Promise<{ body: Readable; skip: number; partial: boolean }> {
    const what = `GET blob ${digest} from ${repository}`;
    const range = { range: `bytes=${offset}-${offset + length - 1}` };
    let res = await this.call('GET', `/v2/${repository}/blobs/${digest}`, pullAccess(repository), what, { headers: range, expect: [200, 206, 301, 302, 303, 307, 308], signal });
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400; hops++) {
      await res.body.dump();
      const location = res.headers.location;
      if (hops >= MAX_REDIRECTS || typeof location !== 'string') throw new TransferError(`${what}: redirected without an end`, false, res.statusCode);
      try {
        res = await request(new URL(location, this.base), { dispatcher: this.dispatcher, headers: range, signal });
      } catch (err) {
        throw this.networkError(what, err, signal);
      }
      if (res.statusCode !== 200 && res.statusCode !== 206 && (res.statusCode < 300 || res.statusCode >= 400)) throw await failure(what, res);
    }
    return { body: res.body, skip: res.statusCode === 206 ? 0 : offset, partial: res.statusCode === 206 };
  }

  /**
   * Starts an upload; with `mount`, asks the registry to link the blob from another repository
   * first. Returns null when mounted (201), else the upload URL.
   */
  async startUpload(repository: string, mount?: { digest: string; from: string }, signal?: AbortSignal): Promise<string | null> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const access = mount ? [...pushAccess(repository), ...pullAccess(mount.from)] : pushAccess(repository);
    const res = await this.call('POST', `/v2/${repository}/blobs/uploads/${query}`, access, `upload to ${repository}`, { expect: [201, 202], signal });
    await res.body.dump();
    if (res.statusCode === 201) return null;
    return this.uploadLocation(res, `upload to ${repository}`);
  }

  private uploadLocation(res: Answer, what: string): string {
    const location = res.headers.location;
    if (typeof location !== 'string') throw new TransferError(`${what}: the registry gave no upload location`, false, res.statusCode);
    return new URL(location, this.base).href;
  }

  /**
   * How many bytes the upload holds (its Range) and the URL to continue it with, or null when the
   * registry no longer knows it (2.8 also drops an upload whose URL names another offset).
   */
  async uploadStatus(repository: string, uploadUrl: string, signal?: AbortSignal): Promise<{ offset: number; uploadUrl: string } | null> {
    const what = `upload status in ${repository}`;
    const res = await this.call('GET', uploadUrl, pushAccess(repository), what, { expect: [204, 400, 404], signal });
    await res.body.dump();
    if (res.statusCode !== 204) return null;
    // "0-0" is both an empty upload and a one-byte one: reading it as empty makes the registry refuse a wrong digest, never store one.
    const last = Number(/^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''))?.[1] ?? 0);
    return { offset: last === 0 ? 0 : last + 1, uploadUrl: typeof res.headers.location === 'string' ? this.uploadLocation(res, what) : uploadUrl };
  }

  /** Appends `length` bytes at `offset` to the upload; returns the upload URL for the next request. */
  async appendUpload(repository: string, uploadUrl: string, offset: number, length: number, body: BodySource, signal?: AbortSignal): Promise<string> {
    const what = `upload to ${repository}`;
    const res = await this.call('PATCH', uploadUrl, pushAccess(repository), what, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${offset}-${offset + length - 1}` },
      body,
      expect: [202],
      signal,
    });
    await res.body.dump();
    return this.uploadLocation(res, what);
  }

  /** Ends the upload: the registry checks the digest and stores the blob. */
  async finishUpload(repository: string, uploadUrl: string, digest: string, signal?: AbortSignal): Promise<void> {
    const url = new URL(uploadUrl);
    url.searchParams.set('digest', digest);
    const res = await this.call('PUT', url.href, pushAccess(repository), `upload of ${digest} to ${repository}`, {
      headers: { 'content-length': '0' },
      expect: [201],
      signal,
    });
    await res.body.dump();
  }

  /** A small blob (a config) in one POST and PUT. */
  async uploadBlob(repository: string, data: Buffer, digest: string, signal?: AbortSignal): Promise<void> {
    const uploadUrl = (await this.startUpload(repository, undefined, signal))!;
    const url = new URL(uploadUrl);
    url.searchParams.set('digest', digest);
    const res = await this.call('PUT', url.href, pushAccess(repository), `upload of ${digest} to ${repository}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: () => data,
      expect: [201],
      signal,
    });
    await res.body.dump();
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
