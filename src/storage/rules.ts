import picomatch from 'picomatch';
import { nameInProject } from '../replication/names';

/**
 * The repository and tag globs of retention and immutability rules (API.md "Names and globs"): the
 * repository glob matches the name within its project (`sub/app` for `team/sub/app`, a one-part
 * name as itself), the tag glob the tag; `*` stays within a path component, `**` spans them.
 * Validate globs with globProblem (replication/filters.ts) before storing them.
 */
export interface GlobRule {
  repositories: string;
  tags: string;
}

const MATCH_OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, noextglob: true };

export interface CompiledRule<R extends GlobRule> {
  rule: R;
  repository: (repository: string) => boolean;
  tag: (tag: string) => boolean;
}

/** Compiles once; `repository` takes the full name (`team/sub/app`). */
export function compileRules<R extends GlobRule>(rules: readonly R[]): CompiledRule<R>[] {
  return rules.map((rule) => {
    const repo = picomatch(rule.repositories, MATCH_OPTIONS);
    const tag = picomatch(rule.tags, MATCH_OPTIONS);
    return { rule, repository: (name: string) => repo(nameInProject(name)), tag: (t: string) => tag(t) };
  });
}

/**
 * Accessory tags (cosign's tag schema, API.md "Retention"): `sha256-<64 hex>` plus `.sig`, `.att`
 * or `.sbom`, naming the image whose digest they carry. Not counted by retention, left out of the
 * tag list unless asked for, kept while their image is.
 */
const ACCESSORY_TAG = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/;

export type AccessoryKind = 'signature' | 'attestation' | 'sbom' | 'other';

export function accessoryOfTag(tag: string): { subject: string; kind: AccessoryKind } | null {
  const m = ACCESSORY_TAG.exec(tag);
  if (!m) return null;
  const kind: AccessoryKind = m[2] === 'sig' ? 'signature' : m[2] === 'att' ? 'attestation' : 'sbom';
  return { subject: `sha256:${m[1]}`, kind };
}

export const isAccessoryTag = (tag: string): boolean => ACCESSORY_TAG.test(tag);

/** The SQL LIKE patterns of accessory tags, for stores that leave them out of listings (then checked with isAccessoryTag). */
export const ACCESSORY_TAG_LIKE = ['sha256-%.sig', 'sha256-%.att', 'sha256-%.sbom'] as const;
