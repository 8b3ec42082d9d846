import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import type { AccessEntry } from '../token/issue';
import { ReadOnlyRefusal } from '../storage/internal-tokens';
import { MANIFEST_ACCEPT } from './media-types';


/** Mints a registry token for Wharf's own calls. */
export type TokenSource = (access: AccessEntry[]) => Promise<{ token: string; expiresIn: number }>;

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

/** Talks to the registry's HTTP API. Wharf's own calls carry tokens it mints for itself. */
/** Manifests are small JSON; a larger answer is refused instead of held in memory (Distribution v3 itself caps them at 4 MiB). */
export const MANIFEST_MAX_BYTES = 8 * 1024 * 1024;

async function readLimited(body: AsyncIterable<unknown> & { destroy(): void }, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new RegistryError(`${what}: larger than ${maxBytes} bytes`, 502);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export class RegistryClient {
  readonly dispatcher: Dispatcher;
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(
    readonly baseUrl: string,
    private readonly opts: { caFile?: string; tokenSource?: TokenSource; timeoutMs?: number } = {},
  ) {
    this.dispatcher = new Agent({
      connections: 16,
      connect: opts.caFile ? { ca: readFileSync(opts.caFile) } : {},
      headersTimeout: opts.timeoutMs ?? 30_000,
      bodyTimeout: 60_000,
    });
  }

  /** True when the registry answers /v2/ (200, or 401 asking for a token). */
  async ping(): Promise<boolean> {
    try {
      const res = await request(`${this.baseUrl}/v2/`, { dispatcher: this.dispatcher, signal: AbortSignal.timeout(2000) });
      await res.body.dump();
      return res.statusCode === 200 || res.statusCode === 401;
    } catch {
      return false;
    }
  }

  private async bearer(access: AccessEntry[]): Promise<Record<string, string>> {
    if (!this.opts.tokenSource) return {};
    const key = JSON.stringify(access);
    const cached = this.tokens.get(key);
    if (cached && cached.until > Date.now()) return { authorization: `Bearer ${cached.token}` };
    const { token, expiresIn } = await this.opts.tokenSource(access);
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(key, { token, until: Date.now() + Math.max(expiresIn - 30, 10) * 1000 });
    return { authorization: `Bearer ${token}` };
  }

  private async call(
    method: Dispatcher.HttpMethod,
    path: string,
    access: AccessEntry[],
    headers: Record<string, string> = {},
    body?: Buffer | string,
  ) {
    try {
      const authorization = await this.bearer(access);
      return await request(`${this.baseUrl}${path}`, {
        method,
        dispatcher: this.dispatcher,
        headers: { ...authorization, ...headers },
        body,
      });
    } catch (err) {
      // A token refused by the read-only window is not an unreachable registry.
      if (err instanceof ReadOnlyRefusal) throw err;
      throw new RegistryError(`registry unreachable: ${(err as Error).message}`, 0);
    }
  }

  /** Every repository name in the catalog, following the registry's pagination. */
  async catalog(pageSize = 500): Promise<string[]> {
    const names: string[] = [];
    let path: string | null = `/v2/_catalog?n=${pageSize}`;
    const access: AccessEntry[] = [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    while (path) {
      const res = await this.call('GET', path, access);
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new RegistryError(`catalog: registry answered ${res.statusCode}`, res.statusCode);
      }
      const body = (await res.body.json()) as { repositories?: string[] };
      names.push(...(body.repositories ?? []));
      path = nextLink(res.headers.link);
    }
    return names;
  }

  /**
   * Up to `limit` catalog names that start with `prefix`, read from the first name after it (the
   * catalog is sorted), so a large registry is not listed whole.
   */
  async catalogUnder(prefix: string, limit = 100): Promise<string[]> {
    const access: AccessEntry[] = [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    const res = await this.call('GET', `/v2/_catalog?n=${limit}&last=${encodeURIComponent(prefix)}`, access);
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError(`catalog: registry answered ${res.statusCode}`, res.statusCode);
    }
    const body = (await res.body.json()) as { repositories?: string[] };
    return (body.repositories ?? []).filter((name) => name.startsWith(prefix));
  }

  /** The repository's tags, or null when the registry does not know the repository. */
  async tags(repository: string, pageSize = 1000): Promise<string[] | null> {
    const all: string[] = [];
    let path: string | null = `/v2/${repository}/tags/list?n=${pageSize}`;
    const access = pullAccess(repository);
    while (path) {
      const res = await this.call('GET', path, access);
      if (res.statusCode === 404) {
        await res.body.dump();
        return null;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new RegistryError(`tags of ${repository}: registry answered ${res.statusCode}`, res.statusCode);
      }
      const body = (await res.body.json()) as { tags?: string[] | null };
      all.push(...(body.tags ?? []));
      path = nextLink(res.headers.link);
    }
    return all;
  }

  /** HEAD of a manifest by tag or digest; null when absent. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | null> {
    const res = await this.call('HEAD', `/v2/${repository}/manifests/${reference}`, pullAccess(repository), { accept: MANIFEST_ACCEPT });
    await res.body.dump();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw new RegistryError(`HEAD ${repository}:${reference}: registry answered ${res.statusCode}`, res.statusCode);
    const digest = String(res.headers['docker-content-digest'] ?? '');
    return { digest, mediaType: String(res.headers['content-type'] ?? ''), size: Number(res.headers['content-length'] ?? 0) };
  }

  /** A manifest's bytes; null when absent. */
  async getManifest(repository: string, reference: string): Promise<(ManifestHead & { body: Buffer }) | null> {
    const res = await this.call('GET', `/v2/${repository}/manifests/${reference}`, pullAccess(repository), { accept: MANIFEST_ACCEPT });
    if (res.statusCode === 404) {
      await res.body.dump();
      return null;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError(`GET ${repository}:${reference}: registry answered ${res.statusCode}`, res.statusCode);
    }
    const body = await readLimited(res.body, MANIFEST_MAX_BYTES, `GET ${repository}:${reference}`);
    return {
      digest: String(res.headers['docker-content-digest'] ?? ''),
      mediaType: String(res.headers['content-type'] ?? ''),
      size: body.length,
      body,
    };
  }

  /** A small blob (an image config); null when absent. */
  async getBlob(repository: string, digest: string, maxBytes = 1024 * 1024): Promise<Buffer | null> {
    const res = await this.call('GET', `/v2/${repository}/blobs/${digest}`, pullAccess(repository));
    if (res.statusCode !== 200) {
      await res.body.dump();
      if (res.statusCode === 404) return null;
      throw new RegistryError(`blob ${digest} of ${repository}: registry answered ${res.statusCode}`, res.statusCode);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        return null;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** DELETE of a manifest by digest (or by tag where the registry supports it). */
  async deleteManifest(repository: string, reference: string): Promise<{ status: number; code?: string }> {
    const res = await this.call('DELETE', `/v2/${repository}/manifests/${reference}`, deleteAccess(repository));
    const text = await res.body.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { errors?: { code?: string }[] }).errors?.[0]?.code;
    } catch {
      // no JSON body
    }
    if (res.statusCode === 202 || res.statusCode === 404 || res.statusCode === 400 || res.statusCode === 405)
      return { status: res.statusCode, ...(code ? { code } : {}) };
    throw new RegistryError(`DELETE ${repository}:${reference}: registry answered ${res.statusCode}`, res.statusCode);
  }

  /** Uploads a small blob in one request pair (POST, then PUT with the digest). */
  async uploadBlob(repository: string, data: Buffer, digest: string): Promise<void> {
    const access = pushAccess(repository);
    const start = await this.call('POST', `/v2/${repository}/blobs/uploads/`, access);
    await start.body.dump();
    const location = start.headers.location;
    if (start.statusCode !== 202 || typeof location !== 'string')
      throw new RegistryError(`blob upload to ${repository}: registry answered ${start.statusCode}`, start.statusCode);
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', digest);
    const put = await this.call('PUT', url.pathname + url.search, access, { 'content-type': 'application/octet-stream' }, data);
    await put.body.dump();
    if (put.statusCode !== 201) throw new RegistryError(`blob upload to ${repository}: registry answered ${put.statusCode}`, put.statusCode);
  }

  /** PUT of a manifest; returns its digest. */
  async putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, pushAccess(repository), { 'content-type': mediaType }, body);
    await res.body.dump();
    if (res.statusCode !== 201) throw new RegistryError(`PUT manifest ${repository}:${reference}: registry answered ${res.statusCode}`, res.statusCode);
    return String(res.headers['docker-content-digest'] ?? '');
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

export const pullAccess = (repository: string): AccessEntry[] => [{ type: 'repository', name: repository, actions: ['pull'] }];
export const pushAccess = (repository: string): AccessEntry[] => [{ type: 'repository', name: repository, actions: ['pull', 'push'] }];
export const deleteAccess = (repository: string): AccessEntry[] => [{ type: 'repository', name: repository, actions: ['pull', 'delete'] }];

/** The path of the `rel="next"` link of a paginated answer, if any. */
export function nextLink(link: string | string[] | undefined): string | null {
  const value = Array.isArray(link) ? link[0] : link;
  if (!value) return null;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(value);
  if (!match) return null;
  const target = match[1]!;
  if (target.startsWith('/')) return target;
  try {
    const u = new URL(target);
    return u.pathname + u.search;
  } catch {
    return null;
  }
}
