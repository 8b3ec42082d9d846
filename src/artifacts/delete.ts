import { transaction } from '../db/transaction';
import { soleInstanceLocks, type NamedLocks } from '../db/named-locks';
import type { Ctx } from '../context';
import type { Db, Tx } from '../db/open';
import { conflict, forbidden, notFound, unauthorized } from '../errors';
import { recordAudit } from '../audit/record';
import { repositoryActions } from '../access/resolve';
import { projectOf } from '../access/roles';
import type { Actor, Principal } from '../identity/principal';
import type { RegistryClient } from '../registry/client';
import { visibleRepository } from './list';
import { noteChange } from './changes';
import { dropRepositoryIfEmpty, hasManifest, indexesOf, manifestsOf, removeManifest, removeTag, tagDigest, tagsOf, tagsOfDigest, type Repository } from './store';
import { untagByPlaceholder } from '../registry/placeholder';
import { assertWritable } from '../storage/state';
import { assertMutable } from '../storage/gates';
import { queueReplication } from '../replication/outbox';
import { accessoriesOf, accessoryTagNames, type AccessoryRow } from './accessory-store';

export interface DeleteDeps {
  db: Db;
  /** Epoch ms now: when a replicated delete was seen. */
  nowMs: () => number;
  registry: RegistryClient;
  defaultProject: string;
  deletions: Deletions;
  /** Recomputes the project's storage usage after a delete (pushes over quota may go again). */
  recomputeUsage: (projectId: number) => Promise<unknown>;
}

/** The named-lock scope of deletes: one per repository across every instance on the database. */
const DELETE_LOCK_SCOPE = 'wharf.deletions';

/**
 * Deletes: one at a time per repository, on this instance (queued here) and across instances (a
 * lock in the database, held for the delete), so two requests for the same tag cannot both
 * succeed; and whether the registry deletes a manifest by tag (distribution v3) or not (2.8),
 * learnt from its first answer.
 */
export class Deletions {
  private readonly running = new Map<string, Promise<unknown>>();
  deletesByTag: boolean | null = null;

  constructor(private readonly locks: NamedLocks = soleInstanceLocks) {}

  async exclusive<T>(db: Db, repository: string, fn: () => Promise<T>): Promise<T> {
    const before = this.running.get(repository) ?? Promise.resolve();
    const run = before.then(() => this.locks.holding(DELETE_LOCK_SCOPE, repository, fn));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.running.set(repository, settled);
    try {
      return await run;
    } finally {
      // The tag state of this repository changed (or may have): reconcile must not apply a stale read.
      await noteChange(db, repository);
      if (this.running.get(repository) === settled) this.running.delete(repository);
    }
  }
}

const deleteDeps = (ctx: Ctx): DeleteDeps => ({ db: ctx.db, nowMs: () => ctx.clock.now(), registry: ctx.deps.registry, defaultProject: ctx.config.defaultProject.name, deletions: ctx.deps.deletions, recomputeUsage: (projectId) => ctx.deps.usage.recompute(projectId) });

/** The repository, if the principal may delete in it: 404 when they cannot see it, 403 when they only see it. */
async function deletableRepository(deps: DeleteDeps, principal: Principal, name: string): Promise<Repository> {
  if (principal.kind === 'anonymous') throw unauthorized();
  const { repository } = await visibleRepository(deps.db, principal, name);
  if (!(await repositoryActions(deps.db, principal, name, deps.defaultProject)).includes('delete'))
    throw forbidden('delete.roleNeeded');
  return repository;
}

/** Indexes in the repository that list `digest` as a child and still have a tag. */
export async function taggedParents(tx: Tx, repositoryId: number, digest: string): Promise<string[]> {
  const parents = [];
  for (const m of await indexesOf(tx, repositoryId)) {
    if (!(JSON.parse(m.children!) as { digest: string }[]).some((c) => c.digest === digest)) continue;
    if ((await tagsOfDigest(tx, repositoryId, m.digest)).length > 0) parents.push(m.digest);
  }
  return parents;
}

async function deleteByDigest(registry: RegistryClient, repository: string, digest: string): Promise<void> {
  const res = await registry.deleteManifest(repository, digest);
  if (res.status !== 202 && res.status !== 404)
    throw conflict('delete.registryRefused', { digest, reason: String(res.code ?? res.status) });
}

/**
 * Removes one tag at the registry and leaves every other tag on the same digest alone. Distribution
 * v3 deletes by tag; 2.8 cannot, so the tag is first pointed at a tiny manifest of its own, which
 * is then deleted by digest and takes only that tag with it.
 */
async function untag(deps: DeleteDeps, repository: string, tag: string): Promise<void> {
  const { registry } = deps;
  if (deps.deletions.deletesByTag !== false) {
    const res = await registry.deleteManifest(repository, tag);
    if (res.status === 202 || res.status === 404) {
      deps.deletions.deletesByTag = true;
      return;
    }
    deps.deletions.deletesByTag = false;
  }
  const res = await untagByPlaceholder(registry, repository, tag);
  if (res.status !== 202 && res.status !== 404)
    throw conflict('delete.registryRefused', { digest: res.digest, reason: String(res.code ?? res.status) });
}

/** An accessory that goes with its image, with every tag on it. */
type CascadingAccessory = AccessoryRow & { tags: string[] };

/**
 * The accessories that go with the image `digest`: manifests that are nothing but its accessories.
 * Every tag on one is an accessory tag of `digest` (or it has none: an OCI 1.1 referrer) and no
 * tagged index lists it. A manifest that is more (an image also tagged as the signature of another,
 * or another image's signature too) lives on, and so does its accessory tag, which keeps naming a
 * manifest that exists.
 */
async function cascadingAccessories(db: Tx, repositoryId: number, digest: string): Promise<CascadingAccessory[]> {
  const own = new Set(accessoryTagNames(digest));
  const out: CascadingAccessory[] = [];
  for (const a of await accessoriesOf(db, repositoryId, digest)) {
    const tags = await tagsOfDigest(db, repositoryId, a.digest);
    if (!tags.every((t) => own.has(t))) continue;
    if ((await taggedParents(db, repositoryId, a.digest)).length > 0) continue;
    out.push({ ...a, tags });
  }
  return out;
}

/** The accessories (signatures, attestations, SBOMs) of an image go with it: deleted at the registry by digest. */
async function deleteAccessoriesAtRegistry(deps: DeleteDeps, repository: string, accessories: AccessoryRow[]): Promise<void> {
  for (const a of accessories) await deleteByDigest(deps.registry, repository, a.digest);
}

/** Removes the accessories from Wharf's state and queues their tags' deletes; returns the removed tags. */
async function removeAccessories(deps: DeleteDeps, tx: Tx, repositoryId: number, repository: string, accessories: AccessoryRow[]): Promise<string[]> {
  const gone: string[] = [];
  for (const a of accessories) {
    const tags = await removeManifest(tx, repositoryId, a.digest);
    await queueDeletes(deps, tx, repository, tags, a.digest);
    gone.push(...tags);
  }
  return gone;
}

/** Queues the deleted tags for push policies that replicate deletions (the outbox, in the delete's transaction). */
function queueDeletes(deps: DeleteDeps, tx: Tx, repository: string, tags: Iterable<string>, digest: string): Promise<void> {
  const changes = [...tags].map((tag) => ({ operation: 'delete' as const, repository, tag, digest }));
  return queueReplication(tx, changes, { defaultProject: deps.defaultProject, nowMs: deps.nowMs() });
}

/** DELETE one tag; other tags on the same image stay. The last tag of an image takes the image with it. */
export function deleteTag(ctx: Ctx, name: string, tag: string): Promise<void> {
  const deps = deleteDeps(ctx);
  return deps.deletions.exclusive(deps.db, name, () => untagNow(deps, ctx.principal, name, tag, ctx.actor));
}

async function untagNow(deps: DeleteDeps, principal: Principal, name: string, tag: string, actor: Actor): Promise<void> {
  const repo = await deletableRepository(deps, principal, name);
  await assertWritable(deps.db);
  await assertMutable(deps.db, name, [tag], deps.defaultProject);
  const head = await deps.registry.headManifest(name, tag);
  const known = await tagDigest(deps.db, repo.id, tag);
  if (!head && !known) throw notFound('tag.notFound', { tag, repository: name });
  const digest = head?.digest ?? known!;
  const siblings = (await tagsOfDigest(deps.db, repo.id, digest)).filter((t) => t !== tag);
  const lastReference = siblings.length === 0 && (await taggedParents(deps.db, repo.id, digest)).length === 0;
  // The image goes with its last tag, and its accessories with it.
  const accessories = lastReference ? await cascadingAccessories(deps.db, repo.id, digest) : [];
  if (accessories.length > 0) await assertMutable(deps.db, name, accessories.flatMap((a) => a.tags), deps.defaultProject);
  if (head) {
    if (lastReference) await deleteByDigest(deps.registry, name, digest);
    else await untag(deps, name, tag);
  }
  await deleteAccessoriesAtRegistry(deps, name, accessories);
  await transaction(deps.db, async (tx) => {
    const gone = lastReference ? await removeManifest(tx, repo.id, digest) : [tag];
    if (!lastReference) await removeTag(tx, repo.id, tag);
    const accessoryTags = await removeAccessories(deps, tx, repo.id, name, accessories);
    await dropRepositoryIfEmpty(tx, repo.id);
    await queueDeletes(deps, tx, name, new Set([...gone, tag]), digest);
    await recordAudit(tx, {
      username: actor.username,
      action: 'tag_delete',
      resourceType: 'tag',
      resource: `${name}:${tag}`,
      project: projectOf(name, deps.defaultProject),
      repository: name,
      tag,
      digest,
      sourceIp: actor.ip,
      userAgent: actor.userAgent ?? null,
      detail: JSON.stringify({ imageDeleted: lastReference, ...(accessories.length > 0 ? { accessories: accessories.map((a) => a.digest), accessoryTags } : {}) }),
    });
  });
  await deps.recomputeUsage(repo.projectId);
}

/** DELETE an image by digest with every tag on it; refused while a tagged index still lists it, unless forced. */
export function deleteImage(ctx: Ctx, name: string, digest: string, opts: { force: boolean }): Promise<string[]> {
  const deps = deleteDeps(ctx);
  return deps.deletions.exclusive(deps.db, name, () => deleteImageNow(deps, ctx.principal, name, digest, opts, ctx.actor));
}

async function deleteImageNow(
  deps: DeleteDeps,
  principal: Principal,
  name: string,
  digest: string,
  opts: { force: boolean },
  actor: Actor,
): Promise<string[]> {
  const repo = await deletableRepository(deps, principal, name);
  await assertWritable(deps.db);
  const accessories = await cascadingAccessories(deps.db, repo.id, digest);
  await assertMutable(deps.db, name, [...(await tagsOfDigest(deps.db, repo.id, digest)), ...accessories.flatMap((a) => a.tags)], deps.defaultProject);
  const parents = await taggedParents(deps.db, repo.id, digest);
  if (parents.length > 0 && !opts.force)
    throw conflict('delete.inIndex', { digest, index: parents[0]! });
  const head = await deps.registry.headManifest(name, digest);
  const known = await hasManifest(deps.db, repo.id, digest);
  if (!head && !known) throw notFound('image.notFound', { digest, repository: name });
  if (head) await deleteByDigest(deps.registry, name, digest);
  await deleteAccessoriesAtRegistry(deps, name, accessories);
  const deleted = await transaction(deps.db, async (tx) => {
    const gone = await removeManifest(tx, repo.id, digest);
    const accessoryTags = await removeAccessories(deps, tx, repo.id, name, accessories);
    await dropRepositoryIfEmpty(tx, repo.id);
    await queueDeletes(deps, tx, name, gone, digest);
    await recordAudit(tx, {
      username: actor.username,
      action: 'image_delete',
      resourceType: 'image',
      resource: `${name}@${digest}`,
      project: projectOf(name, deps.defaultProject),
      repository: name,
      digest,
      sourceIp: actor.ip,
      userAgent: actor.userAgent ?? null,
      detail: JSON.stringify({
        tags: gone,
        forced: opts.force && parents.length > 0,
        ...(accessories.length > 0 ? { accessories: accessories.map((a) => a.digest), accessoryTags } : {}),
      }),
    });
    return gone;
  });
  await deps.recomputeUsage(repo.projectId);
  return deleted;
}

/** DELETE every image of a repository: indexes first, then the images they listed, then the rest. */
export function deleteRepository(ctx: Ctx, name: string): Promise<number> {
  const deps = deleteDeps(ctx);
  return deps.deletions.exclusive(deps.db, name, () => deleteRepositoryNow(deps, ctx.principal, name, ctx.actor));
}

async function deleteRepositoryNow(deps: DeleteDeps, principal: Principal, name: string, actor: Actor): Promise<number> {
  const repo = await deletableRepository(deps, principal, name);
  await assertWritable(deps.db);
  await assertMutable(deps.db, name, (await tagsOf(deps.db, repo.id)).map((t) => t.name), deps.defaultProject);
  const digests = new Map<string, boolean>();
  for (const m of await manifestsOf(deps.db, repo.id))
    digests.set(m.digest, m.children !== null);
  // Tags the registry has and Wharf may not know yet.
  for (const tag of (await deps.registry.tags(name)) ?? []) {
    const head = await deps.registry.headManifest(name, tag);
    if (head && !digests.has(head.digest)) digests.set(head.digest, head.mediaType.includes('index') || head.mediaType.includes('list'));
  }
  const ordered = [...digests].sort((a, b) => Number(b[1]) - Number(a[1])).map(([d]) => d);
  for (const digest of ordered) await deleteByDigest(deps.registry, name, digest);
  await transaction(deps.db, async (tx) => {
    // Only what was deleted: a tag pushed meanwhile points at a digest not in the list and stays,
    // as it does at the registry.
    for (const digest of ordered) await queueDeletes(deps, tx, name, await removeManifest(tx, repo.id, digest), digest);
    await dropRepositoryIfEmpty(tx, repo.id);
    await recordAudit(tx, {
      username: actor.username,
      action: 'repository_delete',
      resourceType: 'repository',
      resource: name,
      project: projectOf(name, deps.defaultProject),
      repository: name,
      sourceIp: actor.ip,
      userAgent: actor.userAgent ?? null,
      detail: JSON.stringify({ images: ordered.length }),
    });
  });
  await deps.recomputeUsage(repo.projectId);
  return ordered.length;
}
