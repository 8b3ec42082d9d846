import { accessoryOfTag } from './rules';
import { compileRules, type CompiledRule, type GlobRule } from './rules';

/** What a retention rule keeps of the tags its globs match, per repository (API.md "Storage"). */
export const KEEP_KINDS = ['latestPushed', 'latestPulled', 'pushedWithinDays', 'pulledWithinDays', 'always'] as const;
export type KeepKind = (typeof KEEP_KINDS)[number];

export interface RetentionRule extends GlobRule {
  keep: KeepKind;
  /** A count (latest*) or days (…WithinDays); absent for `always`. */
  n?: number;
}

export interface RetentionPolicy {
  rules: RetentionRule[];
  untagged: 'keep' | 'delete';
}

export interface PlanTag {
  repository: string;
  tag: string;
  digest: string;
  /** ISO time of the push (or adoption). */
  pushedAt: string;
  lastPulledAt: string | null;
}

export interface PlanManifest {
  repository: string;
  digest: string;
  /** Child digests of an index; null or empty for an image. */
  children: readonly string[] | null;
  /** The OCI 1.1 subject: the image this manifest belongs to. */
  subject: string | null;
}

export interface PlannedTagDelete {
  repository: string;
  tag: string;
  digest: string;
}

export interface PlannedManifestDelete {
  repository: string;
  digest: string;
}

export interface RetentionPlan {
  /** Tags to delete one by one: ordinary tags first, accessory tags after their image's. */
  delete: PlannedTagDelete[];
  /** Untagged manifests to delete after the tags (only with `untagged: delete`). */
  deleteUntagged: PlannedManifestDelete[];
  /** Tags that stay in the repositories the policy touches. */
  kept: number;
  /** Tags a rule would delete that an immutability rule protects. */
  skippedImmutable: (PlannedTagDelete & { reason: 'immutable' })[];
  /** Every manifest the run removes entirely (all its tags go, or it is an untagged deletion): what frees blobs. */
  manifestsDeleted: PlannedManifestDelete[];
}

const DAY_MS = 86_400_000;

interface Entry {
  t: PlanTag;
  pushed: number;
  pulled: number;
}

/** Newest first; equal times by tag name, so that the plan never depends on input order. */
const newestFirst = (key: 'pushed' | 'pulled') => (a: Entry, b: Entry) => b[key] - a[key] || (a.t.tag < b.t.tag ? -1 : a.t.tag > b.t.tag ? 1 : 0);

function timeOf(iso: string | null): number {
  if (iso === null) return Number.NaN;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0 : ms;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** The tags of `entries` (already matching the rule's globs) that `rule` keeps. */
function keptBy(rule: RetentionRule, sortedByPush: Entry[], sortedByPull: Entry[], matches: (e: Entry) => boolean, now: number, keep: Set<Entry>): void {
  const n = rule.n ?? 0;
  switch (rule.keep) {
    case 'always':
      for (const e of sortedByPush) if (matches(e)) keep.add(e);
      return;
    case 'latestPushed':
    case 'latestPulled': {
      let left = n;
      for (const e of rule.keep === 'latestPushed' ? sortedByPush : sortedByPull) {
        if (left === 0) return;
        if (!matches(e)) continue;
        keep.add(e);
        left--;
      }
      return;
    }
    case 'pushedWithinDays':
    case 'pulledWithinDays': {
      const since = now - n * DAY_MS;
      const key = rule.keep === 'pushedWithinDays' ? 'pushed' : 'pulled';
      for (const e of key === 'pushed' ? sortedByPush : sortedByPull) {
        if (e[key] < since) return;
        if (matches(e)) keep.add(e);
      }
      return;
    }
  }
}

/** `seed` with every manifest it holds: the children of indexes and the manifests whose subject it is, transitively. */
function closure(seed: Iterable<string>, byDigest: Map<string, PlanManifest>, referrers: Map<string, PlanManifest[]>): Set<string> {
  const out = new Set<string>();
  const todo = [...seed];
  while (todo.length > 0) {
    const d = todo.pop()!;
    if (out.has(d)) continue;
    out.add(d);
    for (const c of byDigest.get(d)?.children ?? []) if (!out.has(c)) todo.push(c);
    for (const r of referrers.get(d) ?? []) if (!out.has(r.digest)) todo.push(r.digest);
  }
  return out;
}

/**
 * What a retention policy deletes, decided per tag (pure; API.md "Storage"). Only repositories a
 * rule's repository glob matches are touched; there a tag goes unless a rule whose globs match it
 * keeps it. Counts are per repository among the tags the rule matches; never-pulled tags use
 * their push time. Accessory tags are neither counted nor deleted by rules: they go only when
 * their image goes. Immutable tags stay. Untagged manifests go with `untagged: delete`, except
 * the platform images of kept indexes and the accessories (subject) of kept images.
 */
export function planRetention(input: {
  policy: RetentionPolicy;
  tags: readonly PlanTag[];
  manifests: readonly PlanManifest[];
  immutable: readonly GlobRule[];
  now: number;
}): RetentionPlan {
  const rules = compileRules(input.policy.rules);
  const immutable = compileRules(input.immutable);
  const plan: RetentionPlan = { delete: [], deleteUntagged: [], kept: 0, skippedImmutable: [], manifestsDeleted: [] };
  const manifestsByRepo = groupBy(input.manifests, (m) => m.repository);
  for (const [repository, tags] of groupBy(input.tags, (t) => t.repository)) {
    const repoRules = rules.filter((r) => r.repository(repository));
    if (repoRules.length === 0) continue;
    planRepository(plan, repository, tags, manifestsByRepo.get(repository) ?? [], repoRules, immutable.filter((r) => r.repository(repository)), input);
    manifestsByRepo.delete(repository);
  }
  // Repositories with no tag at all: only their untagged manifests can go.
  if (input.policy.untagged === 'delete')
    for (const [repository, manifests] of manifestsByRepo) {
      if (!rules.some((r) => r.repository(repository))) continue;
      planRepository(plan, repository, [], manifests, [], [], input);
    }
  return plan;
}

function planRepository(
  plan: RetentionPlan,
  repository: string,
  tags: PlanTag[],
  manifests: PlanManifest[],
  rules: CompiledRule<RetentionRule>[],
  immutable: CompiledRule<GlobRule>[],
  input: { policy: RetentionPolicy; now: number },
): void {
  const ordinary: Entry[] = [];
  const accessories: PlanTag[] = [];
  for (const t of tags) {
    if (accessoryOfTag(t.tag)) accessories.push(t);
    else {
      const pushed = timeOf(t.pushedAt);
      const pulled = timeOf(t.lastPulledAt);
      ordinary.push({ t, pushed, pulled: Number.isNaN(pulled) ? pushed : pulled });
    }
  }
  const byPush = [...ordinary].sort(newestFirst('pushed'));
  const byPull = [...ordinary].sort(newestFirst('pulled'));
  const keep = new Set<Entry>();
  for (const r of rules) keptBy(r.rule, byPush, byPull, (e) => r.tag(e.t.tag), input.now, keep);

  const isImmutable = (tag: string) => immutable.some((r) => r.tag(tag));
  const keptDigests = new Set<string>();
  const deletedDigests = new Set<string>();
  const deletes: PlannedTagDelete[] = [];
  for (const e of byPush) {
    const { tag, digest } = e.t;
    if (keep.has(e)) keptDigests.add(digest);
    else if (isImmutable(tag)) {
      plan.skippedImmutable.push({ repository, tag, digest, reason: 'immutable' });
      keptDigests.add(digest);
    } else {
      deletes.push({ repository, tag, digest });
      deletedDigests.add(digest);
    }
  }

  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  const referrers = groupBy(
    manifests.filter((m) => m.subject !== null),
    (m) => m.subject!,
  );
  let held = closure(keptDigests, byDigest, referrers);
  const tagged = new Set(tags.map((t) => t.digest));
  const untagged = input.policy.untagged === 'delete' ? manifests.filter((m) => !tagged.has(m.digest) && !held.has(m.digest)).map((m) => m.digest) : [];
  const untaggedGone = new Set(untagged);

  // An accessory goes only when its image goes: no kept tag holds it and it is deleted by this run.
  const accessoryDeletes: PlannedTagDelete[] = [];
  const keptAccessories: string[] = [];
  for (const t of accessories) {
    const subject = accessoryOfTag(t.tag)!.subject;
    const subjectGone = !held.has(subject) && (deletedDigests.has(subject) || untaggedGone.has(subject));
    if (!subjectGone) keptAccessories.push(t.digest);
    else if (isImmutable(t.tag)) {
      plan.skippedImmutable.push({ repository, tag: t.tag, digest: t.digest, reason: 'immutable' });
      keptAccessories.push(t.digest);
    } else accessoryDeletes.push({ repository, tag: t.tag, digest: t.digest });
  }
  if (keptAccessories.length > 0) held = closure([...held, ...keptAccessories], byDigest, referrers);

  // Accessories first: deleting their image takes them with it, and the run must delete (and list)
  // each one itself, exactly as the dry run lists them.
  plan.delete.push(...accessoryDeletes, ...deletes);
  plan.kept += tags.length - deletes.length - accessoryDeletes.length;
  const goneTagged = new Set([...deletes, ...accessoryDeletes].map((d) => d.digest));
  for (const d of goneTagged) if (!held.has(d)) plan.manifestsDeleted.push({ repository, digest: d });
  for (const d of untagged)
    if (!held.has(d)) {
      plan.deleteUntagged.push({ repository, digest: d });
      plan.manifestsDeleted.push({ repository, digest: d });
    }
}
