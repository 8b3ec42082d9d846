import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import { DOCKER_MANIFEST_LIST, OCI_INDEX } from '../registry/media-types';
import { untagByPlaceholder } from '../registry/placeholder';
import { Bandwidth } from './throttle';
import { TransferError, type RemoteRegistry } from './remote';

export interface CopyRequest {
  source: RemoteRegistry;
  sourceRepository: string;
  /** A tag or a digest. */
  reference: string;
  target: RemoteRegistry;
  targetRepository: string;
  tag: string;
  override: boolean;
  bandwidthKBps?: number | null;
  signal?: AbortSignal;
  checkpoint?: unknown;
  saveCheckpoint?: (value: unknown) => Promise<void>;
  onBytes?: (n: number) => void;
  /** Bytes per PATCH of a blob upload, and so per saved checkpoint (default 16 MiB). */
  chunkBytes?: number;
  /** Blobs copied at the same time (default 4). */
  blobConcurrency?: number;
}

export interface CopyResult {
  outcome: 'copied' | 'exists' | 'override_off';
  digest: string;
  bytes: number;
  blobsUploaded: number;
  blobsMounted: number;
  blobsSkipped: number;
}

/** Where an unfinished blob upload stands; the checkpoint holds one per blob in flight. */
export interface UploadCheckpoint {
  digest: string;
  uploadUrl: string;
  offset: number;
}

const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
const DEFAULT_BLOB_CONCURRENCY = 4;

interface Manifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

interface Blob {
  digest: string;
  /** -1 when the manifest does not say (schema 1): asked of the source. */
  size: number;
}

interface Descriptor {
  digest?: string;
  mediaType?: string;
  size?: number;
  urls?: string[];
}

interface ManifestJson {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
  fsLayers?: { blobSum?: string }[];
}

const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);

function digestOf(body: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

const isDigest = (reference: string) => /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(reference);

/** Runs `fn` over `items`, at most `limit` at once; the first failure stops the rest from starting. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/** Passes on `length` bytes after skipping `skip`, then ends (and lets go of the source). */
function window(skip: number, length: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      // The rest of a range the source would not cut is read and dropped: the upload waits on this stream's end only.
      if (seen >= skip + length) return done();
      const start = Math.max(0, skip - seen);
      const end = Math.min(chunk.length, skip + length - seen);
      seen += chunk.length;
      if (end > start) this.push(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
      if (seen >= skip + length) this.push(null);
      done();
    },
  });
}

class ImageCopy {
  private readonly bandwidth: Bandwidth | null;
  private readonly uploads = new Map<string, UploadCheckpoint>();
  private saving: Promise<void> = Promise.resolve();
  readonly result = { bytes: 0, blobsUploaded: 0, blobsMounted: 0, blobsSkipped: 0 };

  constructor(private readonly req: CopyRequest) {
    this.bandwidth = req.bandwidthKBps ? new Bandwidth(req.bandwidthKBps) : null;
    for (const upload of checkpointUploads(req.checkpoint)) this.uploads.set(upload.digest, upload);
  }

  private get signal() {
    return this.req.signal;
  }

  private where(reference: string) {
    return `${this.req.sourceRepository}${isDigest(reference) ? '@' : ':'}${reference}`;
  }

  /** A manifest from the source, its bytes checked against the digest it was asked by. */
  async fetchManifest(reference: string): Promise<Manifest> {
    const got = await this.req.source.getManifest(this.req.sourceRepository, reference, this.signal);
    if (!got) throw new TransferError(`${this.where(reference)} not found at the source`, false, 404);
    const algorithm = isDigest(reference) ? reference.split(':')[0]! : 'sha256';
    const digest = digestOf(got.body, algorithm);
    if (isDigest(reference) && digest !== reference) throw new TransferError(`${this.where(reference)}: the source served bytes of digest ${digest}`, false);
    const mediaType = got.mediaType || ((JSON.parse(got.body.toString()) as ManifestJson).mediaType ?? '');
    return { digest, mediaType, body: got.body };
  }

  /** Every manifest under `top` (children before their index, `top` last) and every blob they name. */
  async collect(top: Manifest): Promise<{ manifests: Manifest[]; blobs: Blob[] }> {
    const manifests: Manifest[] = [];
    const blobs = new Map<string, Blob>();
    const seen = new Set<string>();
    const walk = async (m: Manifest) => {
      if (seen.has(m.digest)) return;
      seen.add(m.digest);
      let json: ManifestJson;
      try {
        json = JSON.parse(m.body.toString()) as ManifestJson;
      } catch {
        throw new TransferError(`${this.where(m.digest)}: the manifest is not JSON`, false);
      }
      if (INDEX_TYPES.has(m.mediaType) || (json.manifests && !json.layers)) {
        for (const child of json.manifests ?? []) if (child.digest) await walk(await this.fetchManifest(child.digest));
      } else {
        const named: Descriptor[] = [...(json.config ? [json.config] : []), ...(json.layers ?? [])];
        // Foreign layers live elsewhere (their urls) and are never pushed to a registry.
        for (const d of named) if (d.digest && !d.urls?.length && !/foreign|nondistributable/.test(d.mediaType ?? '')) blobs.set(d.digest, { digest: d.digest, size: d.size ?? -1 });
        for (const l of json.fsLayers ?? []) if (l.blobSum && !blobs.has(l.blobSum)) blobs.set(l.blobSum, { digest: l.blobSum, size: -1 });
      }
      manifests.push(m);
    };
    await walk(top);
    return { manifests, blobs: [...blobs.values()] };
  }

  private save(digest: string, upload: UploadCheckpoint | null): Promise<void> {
    if (upload) this.uploads.set(digest, upload);
    else this.uploads.delete(digest);
    const save = this.req.saveCheckpoint;
    if (!save) return Promise.resolve();
    const snapshot = { uploads: [...this.uploads.values()] };
    this.saving = this.saving.then(() => save(snapshot));
    return this.saving;
  }

  /** The source's bytes [offset, offset+length) of a blob, through the bandwidth limit. */
  private async sourceChunk(digest: string, offset: number, length: number): Promise<Readable> {
    const { body, skip } = await this.req.source.blobStream(this.req.sourceRepository, digest, offset, length, this.signal);
    const stages: NodeJS.ReadWriteStream[] = [];
    if (skip > 0) stages.push(window(skip, length));
    if (this.bandwidth) stages.push(this.bandwidth.stream(this.signal));
    if (stages.length === 0) return body;
    return pipeline([body, ...stages], () => {}) as unknown as Readable;
  }

  async copyBlob(blob: Blob): Promise<void> {
    const { source, target, sourceRepository, targetRepository } = this.req;
    if ((await target.headBlob(targetRepository, blob.digest, this.signal)) !== null) {
      this.result.blobsSkipped++;
      await this.save(blob.digest, null);
      return;
    }
    const size = blob.size >= 0 ? blob.size : await source.headBlob(sourceRepository, blob.digest, this.signal);
    if (size === null || size < 0) throw new TransferError(`blob ${blob.digest} not found in ${sourceRepository} at the source`, false, 404);
    let upload: { uploadUrl: string; offset: number } | null = null;
    const resumed = this.uploads.get(blob.digest);
    if (resumed) upload = await target.uploadStatus(targetRepository, resumed.uploadUrl, this.signal);
    if (!upload) {
      const mount = source.origin === target.origin ? { digest: blob.digest, from: sourceRepository } : undefined;
      const uploadUrl = await target.startUpload(targetRepository, mount, this.signal);
      if (uploadUrl === null) {
        this.result.blobsMounted++;
        return;
      }
      upload = { uploadUrl, offset: 0 };
    }
    const chunkBytes = this.req.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    let { uploadUrl, offset } = upload;
    while (offset < size) {
      const at = offset;
      const length = Math.min(chunkBytes, size - at);
      uploadUrl = await target.appendUpload(targetRepository, uploadUrl, at, length, () => this.sourceChunk(blob.digest, at, length), this.signal);
      offset += length;
      this.result.bytes += length;
      this.req.onBytes?.(length);
      await this.save(blob.digest, { digest: blob.digest, uploadUrl, offset });
    }
    await target.finishUpload(targetRepository, uploadUrl, blob.digest, this.signal);
    this.result.blobsUploaded++;
    await this.save(blob.digest, null);
  }

  /** HEAD of every manifest and blob at the target, and of the tag: anything missing or different fails the copy. */
  async verify(manifests: Manifest[], blobs: Blob[], top: Manifest): Promise<void> {
    const { target, targetRepository, tag } = this.req;
    const at = `${target.origin}/${targetRepository}`;
    const concurrency = this.req.blobConcurrency ?? DEFAULT_BLOB_CONCURRENCY;
    await eachLimited(manifests, concurrency, async (m) => {
      const head = await target.headManifest(targetRepository, m.digest, this.signal);
      if (!head) throw new TransferError(`verify: manifest ${m.digest} missing at ${at}`, false);
      if (head.digest && head.digest !== m.digest) throw new TransferError(`verify: manifest ${m.digest} is ${head.digest} at ${at}`, false);
    });
    await eachLimited(blobs, concurrency, async (b) => {
      const size = await target.headBlob(targetRepository, b.digest, this.signal);
      if (size === null) throw new TransferError(`verify: blob ${b.digest} missing at ${at}`, false);
      if (b.size >= 0 && size >= 0 && size !== b.size) throw new TransferError(`verify: blob ${b.digest} has ${size} bytes at ${at}, not ${b.size}`, false);
    });
    const tagged = await target.headManifest(targetRepository, tag, this.signal);
    if (tagged?.digest !== top.digest) throw new TransferError(`verify: tag ${tag} at ${at} is ${tagged?.digest ?? 'missing'}, not ${top.digest}`, false);
  }
}

/** The uploads a saved checkpoint names (the shape copyImage saves, or one upload alone). */
function checkpointUploads(checkpoint: unknown): UploadCheckpoint[] {
  const isUpload = (u: unknown): u is UploadCheckpoint =>
    typeof u === 'object' && u !== null && typeof (u as UploadCheckpoint).digest === 'string' && typeof (u as UploadCheckpoint).uploadUrl === 'string';
  if (isUpload(checkpoint)) return [checkpoint];
  const uploads = (checkpoint as { uploads?: unknown } | null)?.uploads;
  return Array.isArray(uploads) ? uploads.filter(isUpload) : [];
}

/** Blobs (HEAD first, mount on the same registry, else streamed in chunks with resumable offsets), child
 *  manifests, the manifest, the tag last; then verifies every manifest and blob at the target (a mismatch
 *  → TransferError, not retryable). override false and the tag at the target on another digest → override_off,
 *  nothing written; the same digest already there → exists. */
export async function copyImage(req: CopyRequest): Promise<CopyResult> {
  const copy = new ImageCopy(req);
  const top = await copy.fetchManifest(req.reference);
  const existing = await req.target.headManifest(req.targetRepository, req.tag, req.signal);
  const untouched = { digest: top.digest, bytes: 0, blobsUploaded: 0, blobsMounted: 0, blobsSkipped: 0 };
  if (existing?.digest === top.digest) return { outcome: 'exists', ...untouched };
  if (existing && !req.override) return { outcome: 'override_off', ...untouched };
  const { manifests, blobs } = await copy.collect(top);
  await eachLimited(blobs, req.blobConcurrency ?? DEFAULT_BLOB_CONCURRENCY, (b) => copy.copyBlob(b));
  for (const m of manifests) {
    const reference = m === top ? req.tag : m.digest;
    await req.target.putManifest(req.targetRepository, reference, m.mediaType, m.body, req.signal);
    copy.result.bytes += m.body.length;
    req.onBytes?.(m.body.length);
  }
  await copy.verify(manifests, blobs, top);
  return { outcome: 'copied', digest: top.digest, ...copy.result };
}

/** Deletes one tag at the target (on Distribution 2.8 by the placeholder method Wharf uses for its own
 *  single-tag deletes); 'absent' when the tag is not there; a target refusing deletes → TransferError (not retryable). */
export async function deleteImageTag(target: RemoteRegistry, repository: string, tag: string): Promise<'deleted' | 'absent'> {
  if (!(await target.headManifest(repository, tag))) return 'absent';
  const byTag = await target.deleteManifest(repository, tag);
  if (byTag.status === 202) return 'deleted';
  if (byTag.status === 404 && byTag.code !== 'NAME_UNKNOWN') return 'absent';
  // Deletes switched off answer the same to a tag as to a digest: refuse before the tag is moved onto a placeholder.
  if (byTag.status !== 400) throw refusedDelete(target, repository, tag, byTag);
  const res = await untagByPlaceholder(target, repository, tag);
  if (res.status === 202 || res.status === 404) return 'deleted';
  throw refusedDelete(target, repository, tag, res);
}

function refusedDelete(target: RemoteRegistry, repository: string, tag: string, answer: { status: number; code?: string }): TransferError {
  const hint = answer.status === 405 ? ' (deletes are switched off: storage.delete.enabled)' : '';
  return new TransferError(`${target.origin}/${repository}:${tag}: the target refuses the delete: ${answer.status} ${answer.code ?? ''}${hint}`.trim(), false, answer.status);
}
