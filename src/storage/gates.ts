import { fail } from '../errors';
import type { Tx } from '../db/open';
import { projectOf } from '../access/roles';
import type { AccessEntry } from '../token/issue';
import { readOnlyState, type ReadOnlyState } from './state';
import { projectStorageByNames, tagNamesOfRepository, type ProjectStorageRow } from './store';
import { compileRules, type GlobRule } from './rules';

/** Bytes as people read them in a refusal: 1.5 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function parseGlobRules(json: string | null | undefined): GlobRule[] {
  if (!json) return [];
  try {
    const rules = JSON.parse(json) as unknown;
    return Array.isArray(rules) ? (rules as GlobRule[]) : [];
  } catch {
    return [];
  }
}

/** Whether any tag of the repository matches one of its project's immutability rules. */
export function holdsImmutableTag(rulesJson: string | null | undefined, repository: string, tagNames: readonly string[]): boolean {
  const rules = compileRules(parseGlobRules(rulesJson)).filter((r) => r.repository(repository));
  return rules.length > 0 && tagNames.some((t) => rules.some((r) => r.tag(t)));
}

/**
 * The token endpoint reads the window and the projects' rules for every push or delete token: two
 * queries that took the push-token rate to a third. They are kept for at most a second per
 * database handle, and dropped at once when this process changes them (storageRulesChanged). Another
 * instance's change is seen within that second: garbage collection waits five seconds past a whole
 * push-token lifetime from the window's start, so a token granted in that second is waited for.
 */
const GATE_CACHE_MS = 1000;
let generation = 0;
const stateCache = new WeakMap<object, { at: number; generation: number; state: ReadOnlyState }>();
const projectCache = new WeakMap<object, Map<string, { at: number; generation: number; row: (ProjectStorageRow & { project: string }) | null }>>();

/** Drops the cached window and rules: called by every writer of storage_state and project_storage. */
export function storageRulesChanged(): void {
  generation++;
}

async function cachedReadOnlyState(db: Tx): Promise<ReadOnlyState> {
  const now = Date.now();
  const hit = stateCache.get(db);
  if (hit && hit.generation === generation && now - hit.at < GATE_CACHE_MS) return hit.state;
  const seen = generation;
  const state = await readOnlyState(db);
  stateCache.set(db, { at: now, generation: seen, state });
  return state;
}

async function cachedProjectStorage(db: Tx, names: string[]): Promise<(ProjectStorageRow & { project: string })[]> {
  const now = Date.now();
  let cache = projectCache.get(db);
  if (!cache || cache.size > 10_000) projectCache.set(db, (cache = new Map()));
  const fresh = (name: string) => {
    const hit = cache!.get(name);
    return hit && hit.generation === generation && now - hit.at < GATE_CACHE_MS ? hit : undefined;
  };
  const missing = names.filter((n) => !fresh(n));
  if (missing.length > 0) {
    const seen = generation;
    const rows = await projectStorageByNames(db, missing);
    for (const name of missing) cache.set(name, { at: now, generation: seen, row: rows.find((r) => r.project === name) ?? null });
  }
  return names.flatMap((n) => {
    const row = cache!.get(n)?.row;
    return row ? [row] : [];
  });
}

/**
 * What the storage rules take away from a token's access, after roles have decided it (API.md
 * "Refusals with a reason"): in the read-only window no push or delete at all, and over a
 * project's quota no push; where the role allowed them the request is refused with 403 and the
 * reason, so clients print it. A repository holding an immutable tag loses registry `delete`
 * silently (the subset rule): its other tags are deleted through Wharf's API.
 */
export async function applyStorageGates(db: Tx, access: AccessEntry[], defaultProject: string): Promise<AccessEntry[]> {
  const writes = access.filter((a) => a.type === 'repository' && (a.actions.includes('push') || a.actions.includes('delete')));
  if (writes.length === 0) return access;
  const state = await cachedReadOnlyState(db);
  if (state.readOnly) throw fail(403, 'denied', state.reason ? 'storage.readOnlyBecause' : 'storage.readOnly', state.reason ? { reason: state.reason } : {});
  const byProject = new Map<string, AccessEntry[]>();
  for (const a of writes) {
    const project = projectOf(a.name, defaultProject);
    byProject.set(project, [...(byProject.get(project) ?? []), a]);
  }
  const rows = await cachedProjectStorage(db, [...byProject.keys()]);
  if (rows.length === 0) return access;
  const strip = new Map<AccessEntry, string>();
  for (const row of rows) {
    const entries = byProject.get(row.project) ?? [];
    if (row.quotaLimitBytes !== null && row.usedBytes >= row.quotaLimitBytes && entries.some((a) => a.actions.includes('push')))
      throw fail(403, 'denied', 'storage.overQuota', { project: row.project, used: formatBytes(row.usedBytes), limit: formatBytes(row.quotaLimitBytes) });
    if (parseGlobRules(row.immutabilityRules).length === 0) continue;
    for (const a of entries) {
      if (!a.actions.includes('delete')) continue;
      if (holdsImmutableTag(row.immutabilityRules, a.name, await tagNamesOfRepository(db, a.name))) strip.set(a, 'delete');
    }
  }
  if (strip.size === 0) return access;
  return access.map((a) => (strip.has(a) ? { ...a, actions: a.actions.filter((x) => x !== 'delete') } : a));
}

/** The first of `tags` an immutability rule of the repository's project matches, if any. */
export async function immutableTagAmong(db: Tx, repository: string, tags: readonly string[], defaultProject: string): Promise<string | null> {
  if (tags.length === 0) return null;
  const [row] = await projectStorageByNames(db, [projectOf(repository, defaultProject)]);
  const rules = compileRules(parseGlobRules(row?.immutabilityRules)).filter((r) => r.repository(repository));
  if (rules.length === 0) return null;
  return tags.find((t) => rules.some((r) => r.tag(t))) ?? null;
}

/** 409 tag_immutable when one of `tags` is immutable: deleting it (or the image or repository under it) is refused. */
export async function assertMutable(db: Tx, repository: string, tags: readonly string[], defaultProject: string): Promise<void> {
  const tag = await immutableTagAmong(db, repository, tags, defaultProject);
  if (tag !== null) throw fail(409, 'tag_immutable', 'storage.tagImmutable', { tag, repository });
}
