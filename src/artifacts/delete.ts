import { createHash, randomBytes } from 'node:crypto';
import { transaction } from '../db/transaction';
import { and, eq } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { manifests, tags } from '../db/schema';
import { conflict, forbidden, notFound, unauthorized } from '../errors';
import { recordAudit } from '../audit/record';
import { repositoryActions } from '../access/resolve';
import { projectOf } from '../access/roles';
import type { Actor, Principal } from '../identity/principal';
import type { RegistryClient } from '../registry/client';
import { visibleRepository } from './list';
import { noteChange } from './changes';
import { dropRepositoryIfEmpty, indexesOf, removeManifest, removeTag, tagsOfDigest, type Repository } from './state';
import { OCI_MANIFEST } from '../registry/media-types';

export interface DeleteDeps {
  db: Db;
  registry: RegistryClient;
  defaultProject: string;
}

/** Whether the registry deletes a manifest by tag (distribution v3) or not (2.8): learnt once. */
const tagDeleteSupport = new WeakMap<RegistryClient, boolean>();

/** Deletes in one repository run one at a time (per registry), so two requests for the same tag cannot both succeed. */
const queues = new WeakMap<RegistryClient, Map<string, Promise<unknown>>>();

async function exclusive<T>(deps: DeleteDeps, repository: string, fn: () => Promise<T>): Promise<T> {
  let byName = queues.get(deps.registry);
  if (!byName) queues.set(deps.registry, (byName = new Map()));
  const before = byName.get(repository) ?? Promise.resolve();
  const run = before.then(fn);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  byName.set(repository, settled);
  try {
    return await run;
  } finally {
    // The tag state of this repository changed (or may have): reconcile must not apply a stale read.
    await noteChange(deps.db, repository);
    if (byName.get(repository) === settled) byName.delete(repository);
  }
}

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
async function untag(registry: RegistryClient, repository: string, tag: string): Promise<void> {
  if (tagDeleteSupport.get(registry) !== false) {
    const res = await registry.deleteManifest(repository, tag);
    if (res.status === 202 || res.status === 404) {
      tagDeleteSupport.set(registry, true);
      return;
    }
    tagDeleteSupport.set(registry, false);
  }
  const config = Buffer.from(JSON.stringify({ 'wharf.placeholder': randomBytes(16).toString('hex') }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await registry.uploadBlob(repository, config, configDigest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [],
      annotations: { 'org.opencontainers.image.description': 'Wharf placeholder for deleting one tag' },
    }),
  );
  const placeholder = await registry.putManifest(repository, tag, OCI_MANIFEST, manifest);
  await deleteByDigest(registry, repository, placeholder || `sha256:${createHash('sha256').update(manifest).digest('hex')}`);
}

/** DELETE one tag; other tags on the same image stay. The last tag of an image takes the image with it. */
export const deleteTag = (deps: DeleteDeps, principal: Principal, name: string, tag: string, actor: Actor): Promise<void> =>
  exclusive(deps, name, () => untagNow(deps, principal, name, tag, actor));

async function untagNow(deps: DeleteDeps, principal: Principal, name: string, tag: string, actor: Actor): Promise<void> {
  const repo = await deletableRepository(deps, principal, name);
  const head = await deps.registry.headManifest(name, tag);
  const known = await deps.db
    .select({ digest: tags.digest })
    .from(tags)
    .where(and(eq(tags.repositoryId, repo.id), eq(tags.name, tag)))
    .get();
  if (!head && !known) throw notFound('tag.notFound', { tag, repository: name });
  const digest = head?.digest ?? known!.digest;
  const siblings = (await tagsOfDigest(deps.db, repo.id, digest)).filter((t) => t !== tag);
  const lastReference = siblings.length === 0 && (await taggedParents(deps.db, repo.id, digest)).length === 0;
  if (head) {
    if (lastReference) await deleteByDigest(deps.registry, name, digest);
    else await untag(deps.registry, name, tag);
  }
  await transaction(deps.db, async (tx) => {
    if (lastReference) await removeManifest(tx, repo.id, digest);
    else await removeTag(tx, repo.id, tag);
    await dropRepositoryIfEmpty(tx, repo.id);
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
      detail: JSON.stringify({ imageDeleted: lastReference }),
    });
  });
}

/** DELETE an image by digest with every tag on it; refused while a tagged index still lists it, unless forced. */
export const deleteImage = (deps: DeleteDeps, principal: Principal, name: string, digest: string, opts: { force: boolean }, actor: Actor): Promise<string[]> =>
  exclusive(deps, name, () => deleteImageNow(deps, principal, name, digest, opts, actor));

async function deleteImageNow(
  deps: DeleteDeps,
  principal: Principal,
  name: string,
  digest: string,
  opts: { force: boolean },
  actor: Actor,
): Promise<string[]> {
  const repo = await deletableRepository(deps, principal, name);
  const parents = await taggedParents(deps.db, repo.id, digest);
  if (parents.length > 0 && !opts.force)
    throw conflict('delete.inIndex', { digest, index: parents[0]! });
  const head = await deps.registry.headManifest(name, digest);
  const known = await deps.db
    .select({ id: manifests.id })
    .from(manifests)
    .where(and(eq(manifests.repositoryId, repo.id), eq(manifests.digest, digest)))
    .get();
  if (!head && !known) throw notFound('image.notFound', { digest, repository: name });
  if (head) await deleteByDigest(deps.registry, name, digest);
  return transaction(deps.db, async (tx) => {
    const gone = await removeManifest(tx, repo.id, digest);
    await dropRepositoryIfEmpty(tx, repo.id);
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
      detail: JSON.stringify({ tags: gone, forced: opts.force && parents.length > 0 }),
    });
    return gone;
  });
}

/** DELETE every image of a repository: indexes first, then the images they listed, then the rest. */
export const deleteRepository = (deps: DeleteDeps, principal: Principal, name: string, actor: Actor): Promise<number> =>
  exclusive(deps, name, () => deleteRepositoryNow(deps, principal, name, actor));

async function deleteRepositoryNow(deps: DeleteDeps, principal: Principal, name: string, actor: Actor): Promise<number> {
  const repo = await deletableRepository(deps, principal, name);
  const digests = new Map<string, boolean>();
  for (const m of await deps.db.select({ digest: manifests.digest, children: manifests.children }).from(manifests).where(eq(manifests.repositoryId, repo.id)).all())
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
    for (const digest of ordered) await removeManifest(tx, repo.id, digest);
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
  return ordered.length;
}
