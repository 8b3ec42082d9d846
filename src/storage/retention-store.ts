import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import type { PlanManifest, PlanTag, PlannedManifestDelete } from './retention-plan';

/** The SQL of retention: a project's tag state for the planner, its blobs, the runs' results and the cron policies. */

/** Every tag of the project's repositories, with the times the planner orders by. */
export async function retentionTagsOfProject(db: Tx, projectId: number): Promise<PlanTag[]> {
  const { repositories, tags } = tablesOf(db);
  return db
    .select({ repository: repositories.name, tag: tags.name, digest: tags.digest, pushedAt: tags.pushedAt, lastPulledAt: tags.lastPulledAt })
    .from(tags)
    .innerJoin(repositories, eq(repositories.id, tags.repositoryId))
    .where(eq(repositories.projectId, projectId));
}

/** Every manifest of the project's repositories: their children (indexes) and subject (referrers). */
export async function retentionManifestsOfProject(db: Tx, projectId: number): Promise<PlanManifest[]> {
  const { repositories, manifests } = tablesOf(db);
  const rows = await db
    .select({ repository: repositories.name, digest: manifests.digest, children: manifests.children, subject: manifests.subject })
    .from(manifests)
    .innerJoin(repositories, eq(repositories.id, manifests.repositoryId))
    .where(eq(repositories.projectId, projectId));
  return rows.map((r) => ({ repository: r.repository, digest: r.digest, subject: r.subject, children: childDigests(r.children) }));
}

function childDigests(json: string | null): string[] | null {
  if (json === null) return null;
  try {
    const list = JSON.parse(json) as unknown;
    return Array.isArray(list) ? list.map((c) => (c as { digest?: unknown }).digest).filter((d): d is string => typeof d === 'string') : null;
  } catch {
    return null;
  }
}

export interface ProjectBlob {
  repository: string;
  manifestDigest: string;
  blobDigest: string;
  size: number;
}

/** Every blob each manifest of the project keeps (manifest_blobs). */
export async function blobsOfProject(db: Tx, projectId: number): Promise<ProjectBlob[]> {
  const { repositories, manifestBlobs } = tablesOf(db);
  return db
    .select({ repository: repositories.name, manifestDigest: manifestBlobs.manifestDigest, blobDigest: manifestBlobs.blobDigest, size: manifestBlobs.size })
    .from(manifestBlobs)
    .innerJoin(repositories, eq(repositories.id, manifestBlobs.repositoryId))
    .where(eq(repositories.projectId, projectId));
}

/**
 * The bytes of the blobs only deleted manifests hold: a blob any manifest of the project keeps
 * after the run counts as kept. Each blob once.
 */
export function bytesReclaimable(blobs: readonly ProjectBlob[], deleted: readonly PlannedManifestDelete[]): number {
  const gone = new Map<string, Set<string>>();
  for (const m of deleted) {
    const digests = gone.get(m.repository);
    if (digests) digests.add(m.digest);
    else gone.set(m.repository, new Set([m.digest]));
  }
  const kept = new Set<string>();
  const candidates = new Map<string, number>();
  for (const b of blobs) {
    if (gone.get(b.repository)?.has(b.manifestDigest)) candidates.set(b.blobDigest, b.size);
    else kept.add(b.blobDigest);
  }
  let sum = 0;
  for (const [digest, size] of candidates) if (!kept.has(digest)) sum += size;
  return sum;
}

/** Stores what a run found or did (JSON) on its execution. */
export async function setExecutionResult(db: Db, executionId: number, result: string): Promise<void> {
  const { jobExecutions } = tablesOf(db);
  await db.update(jobExecutions).set({ result }).where(eq(jobExecutions.id, executionId));
}

/** The stored results of executions, by id (absent: none stored yet). */
export async function executionResults(db: Db, executionIds: number[]): Promise<Map<number, string>> {
  if (executionIds.length === 0) return new Map();
  const { jobExecutions } = tablesOf(db);
  const rows = await db
    .select({ id: jobExecutions.id, result: jobExecutions.result })
    .from(jobExecutions)
    .where(and(inArray(jobExecutions.id, executionIds), isNotNull(jobExecutions.result)));
  return new Map(rows.map((r) => [r.id, r.result!]));
}

/** Projects whose retention policy runs on a cron expression. */
export async function retentionCronProjects(db: Db): Promise<{ projectId: number; cron: string }[]> {
  const { projectStorage: ps } = tablesOf(db);
  const rows = await db
    .select({ projectId: ps.projectId, cron: ps.retentionCron, rules: ps.retentionRules })
    .from(ps)
    .where(and(isNotNull(ps.retentionCron), isNotNull(ps.retentionRules)));
  return rows.map((r) => ({ projectId: r.projectId, cron: r.cron! }));
}

/** A project's name by id (a cron firing or a task knows only the id). */
export async function projectNameOf(db: Db, projectId: number): Promise<string | undefined> {
  const { projects } = tablesOf(db);
  const [row] = await db.select({ name: projects.name }).from(projects).where(eq(projects.id, projectId));
  return row?.name;
}
