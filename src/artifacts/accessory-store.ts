import { and, eq, inArray, notLike, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';
import { accessoryOfTag, type AccessoryKind } from '../storage/rules';

/**
 * The accessories of an image in Wharf's tag state: manifests tagged `sha256-<hex>.sig|.att|.sbom`
 * after its digest (cosign's tag schema) and manifests whose OCI 1.1 `subject` is its digest.
 */

const ACCESSORY_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** The accessory tag names of a digest (none for a digest that is not sha256). */
export function accessoryTagNames(digest: string): string[] {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  return m ? ACCESSORY_SUFFIXES.map((s) => `sha256-${m[1]}.${s}`) : [];
}

/** LIKE patterns as long as an accessory tag (`_` one character each): what a listing leaves out. */
const ACCESSORY_TAG_LIKE_EXACT = ACCESSORY_SUFFIXES.map((s) => `sha256-${'_'.repeat(64)}.${s}`);

/** The condition leaving accessory tags out of a tag listing (then only names isAccessoryTag also accepts can be missing). */
export function notAccessoryTag(column: Parameters<typeof notLike>[0]): SQL {
  return and(...ACCESSORY_TAG_LIKE_EXACT.map((p) => notLike(column, p)))!;
}

export interface AccessoryRow {
  digest: string;
  mediaType: string | null;
  /** Kind by its tag; null when it is an accessory by its subject only. */
  kind: AccessoryKind | null;
  tag: string | null;
}

/** The accessory manifests of `digest` in the repository, each once (by tag first, then by subject). */
export async function accessoriesOf(db: Tx, repositoryId: number, digest: string): Promise<AccessoryRow[]> {
  const { manifests, tags } = tablesOf(db);
  const out = new Map<string, AccessoryRow>();
  const names = accessoryTagNames(digest);
  if (names.length > 0) {
    const tagged = await db
      .select({ name: tags.name, digest: tags.digest, mediaType: manifests.mediaType })
      .from(tags)
      .leftJoin(manifests, and(eq(manifests.repositoryId, tags.repositoryId), eq(manifests.digest, tags.digest)))
      .where(and(eq(tags.repositoryId, repositoryId), inArray(tags.name, names)));
    for (const t of tagged.sort((a, b) => a.name.localeCompare(b.name)))
      if (t.digest !== digest && !out.has(t.digest))
        out.set(t.digest, { digest: t.digest, mediaType: t.mediaType, kind: accessoryOfTag(t.name)?.kind ?? 'other', tag: t.name });
  }
  const referrers = await db
    .select({ digest: manifests.digest, mediaType: manifests.mediaType })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, repositoryId), eq(manifests.subject, digest)))
    .limit(500);
  for (const r of referrers.sort((a, b) => a.digest.localeCompare(b.digest)))
    if (r.digest !== digest && !out.has(r.digest)) {
      const tag = (await firstRow(db.select({ name: tags.name }).from(tags).where(and(eq(tags.repositoryId, repositoryId), eq(tags.digest, r.digest))).limit(1)))?.name ?? null;
      out.set(r.digest, { digest: r.digest, mediaType: r.mediaType, kind: null, tag });
    }
  return [...out.values()];
}

/** What Wharf stored of a manifest: size, children (JSON) and platform (JSON); undefined when unknown. */
export function storedManifest(db: Tx, repositoryId: number, digest: string) {
  const { manifests } = tablesOf(db);
  return firstRow(
    db
      .select({ size: manifests.size, children: manifests.children, platform: manifests.platform, mediaType: manifests.mediaType })
      .from(manifests)
      .where(and(eq(manifests.repositoryId, repositoryId), eq(manifests.digest, digest))),
  );
}

/** Of these digests, the accessory kinds their accessory tags name (for a page of tags). */
export async function accessoryKindsByDigest(db: Tx, repositoryId: number, digests: string[]): Promise<Map<string, AccessoryKind[]>> {
  const { tags } = tablesOf(db);
  const out = new Map<string, AccessoryKind[]>();
  const names = [...new Set(digests)].flatMap(accessoryTagNames);
  if (names.length === 0) return out;
  const rows = await db.select({ name: tags.name }).from(tags).where(and(eq(tags.repositoryId, repositoryId), inArray(tags.name, names)));
  for (const r of rows) {
    const a = accessoryOfTag(r.name);
    if (!a) continue;
    const kinds = out.get(a.subject) ?? [];
    if (!kinds.includes(a.kind)) kinds.push(a.kind);
    out.set(a.subject, kinds.sort());
  }
  return out;
}
