import type { Ctx } from '../context';
import { notFound } from '../errors';
import type { AccessoryKind } from '../storage/rules';
import { visibleRepository } from './list';
import { tagsOfDigest } from './store';
import { accessoriesOf, storedManifest } from './accessory-store';
import type { Platform } from './details';

/**
 * What an image is made of, read live from the registry (the manifest by digest, its config blob
 * bounded) with Wharf's tag state for its tags and accessories. Whatever a manifest or config
 * holds, the answer is well-formed: odd fields are left out, long lists and strings are cut.
 */

/** The largest config blob read; a bigger one is shown as no config. */
export const CONFIG_MAX_BYTES = 1024 * 1024;
const MAX_ITEMS = 500;
const MAX_STRING = 8192;
const MAX_CHILDREN = 256;
const MAX_REFERRER_READS = 50;

export interface ImageConfigView {
  os: string | null;
  architecture: string | null;
  variant?: string;
  created: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
}

export interface ImageView {
  digest: string;
  mediaType: string;
  size: number | null;
  config: ImageConfigView | null;
  layers: { digest: string; size: number; mediaType: string | null }[];
  history: { created: string | null; createdBy: string | null; emptyLayer: boolean }[];
  platforms: Platform[];
  children: { digest: string; platform: Platform | null; size: number | null }[];
  accessories: { kind: AccessoryKind; tag?: string; digest: string }[];
  tags: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, MAX_STRING) : null);
const size = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v.slice(0, MAX_ITEMS) : []);
const strings = (v: unknown): string[] | null => (Array.isArray(v) ? list(v).map(str).filter((s): s is string => s !== null) : null);

function parseJson(body: Buffer): Json | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

function platformOf(v: unknown): Platform | null {
  if (!isObject(v)) return null;
  const os = str(v.os);
  const architecture = str(v.architecture);
  const variant = str(v.variant);
  return os && architecture ? { os, architecture, ...(variant ? { variant } : {}) } : null;
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,128}$/;
const isDigest = (v: unknown): v is string => typeof v === 'string' && DIGEST.test(v);

function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v).slice(0, MAX_ITEMS)) if (typeof value === 'string') out[k.slice(0, MAX_STRING)] = value.slice(0, MAX_STRING);
  return out;
}

/** The parts of an image config (OCI image spec) the page shows. */
export function configView(config: Json): ImageConfigView {
  const c = isObject(config.config) ? config.config : {};
  const variant = str(config.variant);
  return {
    os: str(config.os),
    architecture: str(config.architecture),
    ...(variant ? { variant } : {}),
    created: str(config.created),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env) ?? [],
    labels: stringMap(c.Labels),
    exposedPorts: isObject(c.ExposedPorts) ? Object.keys(c.ExposedPorts).slice(0, MAX_ITEMS).map((p) => p.slice(0, 64)) : [],
  };
}

function historyView(config: Json): ImageView['history'] {
  return list(config.history)
    .filter(isObject)
    .map((h) => ({ created: str(h.created), createdBy: str(h.created_by), emptyLayer: h.empty_layer === true }));
}

const SIGNATURE = /signature|cosign|sigstore|notary|\.sig\b/i;
const SBOM = /sbom|spdx|cyclonedx|syft/i;
const ATTESTATION = /in-toto|intoto|attestation|provenance/i;

/** The kind an OCI 1.1 artifact says it is (artifactType, else its config's media type). */
export function kindOfArtifactType(type: string | null): AccessoryKind {
  if (!type) return 'other';
  if (SBOM.test(type)) return 'sbom';
  if (ATTESTATION.test(type)) return 'attestation';
  if (SIGNATURE.test(type)) return 'signature';
  return 'other';
}

async function artifactTypeOf(ctx: Ctx, repository: string, digest: string): Promise<string | null> {
  const got = await ctx.deps.registry.getManifest(repository, digest).catch(() => null);
  const m = got ? parseJson(got.body) : null;
  if (!m) return null;
  return str(m.artifactType) ?? (isObject(m.config) ? str(m.config.mediaType) : null);
}

function storedChildren(json: string | null | undefined): Map<string, number | null> {
  const out = new Map<string, number | null>();
  if (!json) return out;
  try {
    for (const c of JSON.parse(json) as { digest?: unknown; size?: unknown }[]) if (typeof c.digest === 'string') out.set(c.digest, size(c.size));
  } catch {
    // stored by Wharf: always JSON; nothing to add if not
  }
  return out;
}

/** GET the details of one image (or index) of a repository the principal can see. */
export async function imageDetails(ctx: Ctx, name: string, digest: string): Promise<ImageView> {
  const { repository } = await visibleRepository(ctx.db, ctx.principal, name);
  const registry = ctx.deps.registry;
  const got = await registry.getManifest(name, digest);
  if (!got) throw notFound('image.notFound', { digest, repository: name });
  const m = parseJson(got.body) ?? {};
  const mediaType = str(m.mediaType) ?? (got.mediaType || 'application/octet-stream');
  const stored = await storedManifest(ctx.db, repository.id, digest);

  const view: ImageView = {
    digest,
    mediaType,
    size: stored?.size ?? null,
    config: null,
    layers: [],
    history: [],
    platforms: [],
    children: [],
    accessories: [],
    tags: (await tagsOfDigest(ctx.db, repository.id, digest)).sort(),
  };

  if (Array.isArray(m.manifests)) {
    const sizes = storedChildren(stored?.children);
    view.children = m.manifests
      .slice(0, MAX_CHILDREN)
      .filter(isObject)
      .filter((d) => isDigest(d.digest))
      .map((d) => ({ digest: str(d.digest)!, platform: platformOf(d.platform), size: sizes.get(d.digest as string) ?? size(d.size) }));
    view.platforms = view.children.map((c) => c.platform).filter((p): p is Platform => p !== null);
    view.size ??= view.children.reduce((n, c) => n + (c.size ?? 0), got.size);
  } else {
    view.layers = list(m.layers)
      .filter(isObject)
      .filter((l) => isDigest(l.digest))
      .map((l) => ({ digest: str(l.digest)!, size: size(l.size) ?? 0, mediaType: str(l.mediaType) }));
    const configDescriptor = isObject(m.config) ? m.config : null;
    view.size ??= got.size + (size(configDescriptor?.size) ?? 0) + view.layers.reduce((n, l) => n + l.size, 0);
    // The manifest is the pusher's text: a digest that is not one never reaches a URL or a link.
    const configDigest = isDigest(configDescriptor?.digest) ? str(configDescriptor?.digest) : null;
    if (configDigest) {
      const blob = await registry.getBlob(name, configDigest, CONFIG_MAX_BYTES).catch(() => null);
      const config = blob ? parseJson(blob) : null;
      if (config) {
        view.config = configView(config);
        view.history = historyView(config);
        const platform = platformOf(config);
        if (platform) view.platforms = [platform];
      }
    }
  }

  let reads = 0;
  for (const a of await accessoriesOf(ctx.db, repository.id, digest)) {
    const kind = a.kind ?? (reads++ < MAX_REFERRER_READS ? kindOfArtifactType(await artifactTypeOf(ctx, name, a.digest)) : 'other');
    view.accessories.push({ kind, ...(a.tag ? { tag: a.tag } : {}), digest: a.digest });
  }
  return view;
}
