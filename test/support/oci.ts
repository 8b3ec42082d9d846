import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types';

export const MEDIA_TYPES = {
  manifest: OCI_MANIFEST,
  index: OCI_INDEX,
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Platform {
  os: string;
  architecture: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform | undefined;
  annotations?: Record<string, string> | undefined;
}

export interface BuildImageOptions {
  /** Number of layers (default 2). */
  layers?: number | undefined;
  /** Bytes of random content in each layer's single file (default 4096). */
  layerSize?: number | undefined;
  /** Tag recorded as org.opencontainers.image.ref.name in index.json (default "latest"). */
  tag?: string | undefined;
  /** Platform written into the config (default linux/amd64). */
  platform?: Platform | undefined;
  /** Replaces the config's `config` section (Env, Cmd, Entrypoint, Labels, ExposedPorts...; default a PATH, /bin/sh and a nonce label). */
  config?: Record<string, unknown> | undefined;
  /** Replaces the config's `history` (default one entry per layer). */
  history?: Record<string, unknown>[] | undefined;
}

export interface BuiltImage {
  /** The OCI layout directory; use as `oci:${dir}:${tag}`. */
  dir: string;
  manifestDigest: string;
  configDigest: string;
  /** Digests of the compressed (gzip) layer blobs, in manifest order. */
  layerDigests: string[];
  tag: string;
}

export interface BuildIndexOptions {
  /** Tag recorded in index.json (default "latest"). */
  tag?: string | undefined;
  /** Platforms of the child manifests (default linux/amd64 and linux/arm64). */
  platforms?: Platform[] | undefined;
  /** Layers per child image (default 2). */
  layers?: number | undefined;
  /** Bytes per layer file (default 4096). */
  layerSize?: number | undefined;
}

export interface BuiltIndex {
  dir: string;
  /** Digest of the OCI image index blob (what a registry serves for the tag). */
  indexDigest: string;
  /** Digests of the child image manifests, in `platforms` order. */
  childDigests: string[];
  tag: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
export const DEFAULT_INDEX_PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Canonical JSON bytes for a manifest/config (compact JSON, as written to disk and pushed). */
function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, zero padded, NUL terminated
  const s = value.toString(8).padStart(length - 1, '0');
  if (s.length > length - 1) throw new Error(`tar: value ${value} too large for field of ${length}`);
  buf.write(s + '\0', offset, length, 'ascii');
}

/** Builds a ustar archive holding a single regular file. */
export function makeTar(name: string, content: Buffer, mtime = 0): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error('tar: name too long');
  const header = Buffer.alloc(512, 0);
  header.write(name, 0, 100, 'utf8'); // name
  writeOctal(header, 100, 8, 0o644); // mode
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, content.length); // size
  writeOctal(header, 136, 12, mtime); // mtime
  header.fill(0x20, 148, 156); // checksum placeholder: 8 spaces
  header.write('0', 156, 1, 'ascii'); // typeflag: regular file
  header.write('ustar\0', 257, 6, 'ascii'); // magic
  header.write('00', 263, 2, 'ascii'); // version
  header.write('root', 265, 32, 'ascii'); // uname
  header.write('root', 297, 32, 'ascii'); // gname
  writeOctal(header, 329, 8, 0); // devmajor
  writeOctal(header, 337, 8, 0); // devminor
  let sum = 0;
  for (const b of header) sum += b;
  // checksum: 6 octal digits, NUL, space
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  const padLen = (512 - (content.length % 512)) % 512;
  return Buffer.concat([header, content, Buffer.alloc(padLen, 0), Buffer.alloc(1024, 0)]);
}

async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const digest = sha256Digest(data);
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  await writeFile(join(blobDir, digest.slice('sha256:'.length)), data);
  return digest;
}

async function writeLayoutSkeleton(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

async function writeTopIndex(dir: string, desc: Descriptor, tag: string): Promise<void> {
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

interface WrittenManifest {
  descriptor: Descriptor;
  configDigest: string;
  layerDigests: string[];
}

/** Writes config, layers and manifest blobs for one image; does not touch index.json. */
async function writeImageBlobs(
  dir: string,
  layers: number,
  layerSize: number,
  platform: Platform,
  extra: Pick<BuildImageOptions, 'config' | 'history'> = {},
): Promise<WrittenManifest> {
  const layerDescs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < layers; i++) {
    const tar = makeTar(`layer${i}-${randomBytes(4).toString('hex')}.bin`, randomBytes(layerSize));
    diffIds.push(sha256Digest(tar));
    const gz = gzipSync(tar);
    const digest = await writeBlob(dir, gz);
    layerDescs.push({ mediaType: MEDIA_TYPES.layer, digest, size: gz.length });
  }
  const created = new Date().toISOString();
  const config = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    config: extra.config ?? {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'wharf.test.nonce': randomBytes(8).toString('hex') },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: extra.history ?? diffIds.map((_, i) => ({ created, created_by: `wharf test layer ${i}` })),
  };
  const configBytes = jsonBytes(config);
  const configDigest = await writeBlob(dir, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: configBytes.length },
    layers: layerDescs,
  };
  const manifestBytes = jsonBytes(manifest);
  const manifestDigest = await writeBlob(dir, manifestBytes);
  return {
    descriptor: { mediaType: MEDIA_TYPES.manifest, digest: manifestDigest, size: manifestBytes.length },
    configDigest,
    layerDigests: layerDescs.map((d) => d.digest),
  };
}

/**
 * Writes an OCI image layout at `dir` (created if needed) holding one
 * single-platform image with random gzip'd tar layers. Push it with
 * skopeo from `oci:${dir}:${tag}`.
 */
export async function buildImage(dir: string, opts: BuildImageOptions = {}): Promise<BuiltImage> {
  const tag = opts.tag ?? 'latest';
  const layers = opts.layers ?? 2;
  const layerSize = opts.layerSize ?? 4096;
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  await writeLayoutSkeleton(dir);
  const m = await writeImageBlobs(dir, layers, layerSize, platform, opts);
  await writeTopIndex(dir, m.descriptor, tag);
  return { dir, manifestDigest: m.descriptor.digest, configDigest: m.configDigest, layerDigests: m.layerDigests, tag };
}

/**
 * Writes an OCI image layout at `dir` whose tagged entry is an OCI image
 * index (multi-platform) referencing one image manifest per platform.
 */
export async function buildIndex(dir: string, opts: BuildIndexOptions = {}): Promise<BuiltIndex> {
  const tag = opts.tag ?? 'latest';
  const platforms = opts.platforms ?? DEFAULT_INDEX_PLATFORMS;
  const layers = opts.layers ?? 2;
  const layerSize = opts.layerSize ?? 4096;
  await writeLayoutSkeleton(dir);
  const children: Descriptor[] = [];
  for (const platform of platforms) {
    const m = await writeImageBlobs(dir, layers, layerSize, platform);
    children.push({ ...m.descriptor, platform: { architecture: platform.architecture, os: platform.os } });
  }
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: children };
  const indexBytes = jsonBytes(index);
  const indexDigest = await writeBlob(dir, indexBytes);
  await writeTopIndex(dir, { mediaType: MEDIA_TYPES.index, digest: indexDigest, size: indexBytes.length }, tag);
  return { dir, indexDigest, childDigests: children.map((c) => c.digest), tag };
}

export interface BuildLargeImageOptions {
  tag?: string | undefined;
  layers: number;
  /** Bytes of random data per layer, written in pieces (never whole in memory). */
  layerBytes: number;
}

/** Random bytes in gzip's stored blocks (level 0): a real gzip layer that costs no compression time and that no client recompresses. */
async function writeStoredGzipLayer(dir: string, name: string, bytes: number): Promise<Descriptor> {
  const tmp = join(dir, 'blobs', `${name}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  async function* random() {
    for (let written = 0; written < bytes; written += 1024 * 1024) yield randomBytes(Math.min(1024 * 1024, bytes - written));
  }
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(Readable.from(random()), createGzip({ level: 0 }), count, createWriteStream(tmp));
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
  return { mediaType: MEDIA_TYPES.layer, digest, size };
}

/** Writes an OCI layout with one image of large random layers, streamed to disk and hashed on the way. */
export async function buildLargeImage(dir: string, opts: BuildLargeImageOptions): Promise<BuiltImage & { bytes: number }> {
  const tag = opts.tag ?? 'latest';
  await writeLayoutSkeleton(dir);
  const layerDescs: Descriptor[] = [];
  for (let i = 0; i < opts.layers; i++) layerDescs.push(await writeStoredGzipLayer(dir, `layer-${i}`, opts.layerBytes));
  const config = {
    architecture: DEFAULT_PLATFORM.architecture,
    os: DEFAULT_PLATFORM.os,
    config: { Labels: { 'wharf.test.nonce': randomBytes(8).toString('hex') } },
    // Not the layers' real diff ids (they are not tars): registries and copiers never look.
    rootfs: { type: 'layers', diff_ids: layerDescs.map((d) => d.digest) },
  };
  const configBytes = jsonBytes(config);
  const configDigest = await writeBlob(dir, configBytes);
  const manifestBytes = jsonBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: configBytes.length },
    layers: layerDescs,
  });
  const manifestDigest = await writeBlob(dir, manifestBytes);
  await writeTopIndex(dir, { mediaType: MEDIA_TYPES.manifest, digest: manifestDigest, size: manifestBytes.length }, tag);
  return { dir, manifestDigest, configDigest, layerDigests: layerDescs.map((d) => d.digest), tag, bytes: layerDescs.reduce((n, d) => n + d.size, configBytes.length) };
}

export interface BuildArtifactOptions {
  tag?: string | undefined;
  /** The manifest's artifactType (OCI 1.1), if any. */
  artifactType?: string | undefined;
  /** The config's media type and bytes (default the OCI empty descriptor's `{}`). */
  configMediaType?: string | undefined;
  config?: Buffer | undefined;
  /** One layer of this media type and content. */
  layerMediaType: string;
  layer: Buffer;
  /** The image this artifact is about (OCI 1.1 `subject`). */
  subject?: Descriptor | undefined;
  annotations?: Record<string, string> | undefined;
}

/** Writes an OCI layout holding one small artifact (a signature, an SBOM): a config, one layer, maybe a subject. */
export async function buildArtifact(dir: string, opts: BuildArtifactOptions): Promise<{ dir: string; manifestDigest: string; manifestBytes: Buffer; tag: string }> {
  const tag = opts.tag ?? 'latest';
  await writeLayoutSkeleton(dir);
  const config = opts.config ?? Buffer.from('{}');
  const configDigest = await writeBlob(dir, config);
  const layerDigest = await writeBlob(dir, opts.layer);
  const manifestBytes = jsonBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: { mediaType: opts.configMediaType ?? 'application/vnd.oci.empty.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: opts.layerMediaType, digest: layerDigest, size: opts.layer.length }],
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  });
  const manifestDigest = await writeBlob(dir, manifestBytes);
  await writeTopIndex(dir, { mediaType: MEDIA_TYPES.manifest, digest: manifestDigest, size: manifestBytes.length }, tag);
  return { dir, manifestDigest, manifestBytes, tag };
}
