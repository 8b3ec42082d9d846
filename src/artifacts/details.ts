import type { Db } from '../db/open';
import type { Log } from '../log';
import type { RegistryClient } from '../registry/client';
import { transaction } from '../db/transaction';
import { setManifestDetails, type ManifestBlob } from './store';

interface Descriptor {
  digest?: string;
  size?: number;
  mediaType?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

interface ManifestJson {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ManifestInfo {
  mediaType: string;
  size: number;
  platform: Platform | null;
  children: { digest: string; platform: Platform | null; size: number }[] | null;
  /** The OCI 1.1 subject: the image this manifest belongs to (a signature, an SBOM), if it names one. */
  subject: string | null;
  /** Every blob the manifest keeps in the registry (itself, config, layers, children and theirs). */
  blobs: ManifestBlob[];
}

const MAX_CHILDREN = 64;

const platformOf = (p: Descriptor['platform'] | undefined): Platform | null =>
  p?.os && p.architecture ? { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) } : null;

const imageSize = (bytes: number, m: ManifestJson) =>
  bytes + (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + (l.size ?? 0), 0);

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const sizeOf = (n: unknown): number => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0);

/** The config and layers an image manifest names (a foreign layer has no blob here but is counted as the manifest says). */
function blobsOfImage(m: ManifestJson): ManifestBlob[] {
  return [m.config, ...(m.layers ?? [])]
    .filter((d): d is Descriptor & { digest: string } => typeof d?.digest === 'string' && DIGEST.test(d.digest))
    .map((d) => ({ digest: d.digest, size: sizeOf(d.size) }));
}

const subjectOf = (m: ManifestJson): string | null =>
  typeof m.subject?.digest === 'string' && DIGEST.test(m.subject.digest) ? m.subject.digest : null;

function parse(body: Buffer): ManifestJson {
  const json = JSON.parse(body.toString('utf8')) as unknown;
  if (typeof json !== 'object' || json === null) throw new Error('manifest is not a JSON object');
  return json as ManifestJson;
}

/** Reads a manifest's total size, platform and (for an index) its children from the registry. */
export async function readManifestInfo(registry: RegistryClient, repository: string, digest: string): Promise<ManifestInfo | null> {
  const got = await registry.getManifest(repository, digest);
  if (!got) return null;
  const m = parse(got.body);
  const mediaType = m.mediaType ?? got.mediaType;
  const blobs: ManifestBlob[] = [{ digest, size: got.size }];
  if (Array.isArray(m.manifests)) {
    const children: NonNullable<ManifestInfo['children']> = [];
    let size = got.size;
    for (const d of m.manifests.slice(0, MAX_CHILDREN)) {
      if (!d.digest) continue;
      const child = await registry.getManifest(repository, d.digest);
      const childJson = child ? parse(child.body) : null;
      const childSize = child && childJson ? imageSize(child.size, childJson) : (d.size ?? 0);
      size += childSize;
      children.push({ digest: d.digest, platform: platformOf(d.platform), size: childSize });
      if (child && childJson) blobs.push({ digest: d.digest, size: child.size }, ...blobsOfImage(childJson));
    }
    return { mediaType, size, platform: null, children, subject: subjectOf(m), blobs };
  }
  blobs.push(...blobsOfImage(m));
  let platform: Platform | null = null;
  if (m.config?.digest) {
    const config = await registry.getBlob(repository, m.config.digest, 256 * 1024).catch(() => null);
    if (config) {
      try {
        const c = JSON.parse(config.toString('utf8')) as { os?: string; architecture?: string; variant?: string };
        platform = platformOf(c);
      } catch {
        // not a JSON config (an artifact): no platform
      }
    }
  }
  return { mediaType, size: imageSize(got.size, m), platform, children: null, subject: subjectOf(m), blobs };
}

/**
 * Fetches manifest details off the request path, a few at a time, so the notification endpoint
 * answers the registry at once.
 */
export class ManifestDetails {
  private readonly queue: { repository: string; digest: string }[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly registry: RegistryClient,
    private readonly log: Log,
    private readonly concurrency = 2,
    /** Told after a manifest's details and blobs are stored (quota usage is recomputed from them). */
    private readonly onFilled?: (item: { repository: string; digest: string }) => void,
  ) {}

  enqueue(items: { repository: string; digest: string }[]): void {
    for (const item of items) {
      const key = `${item.repository}@${item.digest}`;
      if (this.queued.has(key)) continue;
      this.queued.add(key);
      this.queue.push(item);
    }
    this.pump();
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.running++;
      void this.fill(item).finally(() => {
        this.running--;
        this.queued.delete(`${item.repository}@${item.digest}`);
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const w of this.waiters.splice(0)) w();
      });
    }
  }

  private async fill(item: { repository: string; digest: string }): Promise<void> {
    try {
      const info = await readManifestInfo(this.registry, item.repository, item.digest);
      if (!info) return;
      const details = {
        mediaType: info.mediaType,
        size: info.size,
        platform: info.platform ? JSON.stringify(info.platform) : null,
        children: info.children ? JSON.stringify(info.children) : null,
        subject: info.subject,
      };
      await transaction(this.db, (tx) => setManifestDetails(tx, item.repository, item.digest, details, info.blobs));
      this.onFilled?.(item);
    } catch (err) {
      this.log.warn({ repository: item.repository, digest: item.digest, err: (err as Error).message }, 'manifest details not read');
    }
  }
}
