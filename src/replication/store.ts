import { and, asc, count, eq, gt, lte, or } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import { readPage, type Page, type PageRequest } from '../db/paged';
import type { registries, replicationPolicies } from '../db/schema';

/** Replication's SQL: registries (targets) and policies, and the tag state a push policy plans from. */

export type RegistryRow = typeof registries.$inferSelect;
export type PolicyRow = typeof replicationPolicies.$inferSelect;

export function registryByName(db: Tx, name: string): Promise<RegistryRow | undefined> {
  const { registries } = tablesOf(db);
  return firstRow(db.select().from(registries).where(eq(registries.name, name)));
}

export function registryById(db: Tx, id: number): Promise<RegistryRow | undefined> {
  const { registries } = tablesOf(db);
  return firstRow(db.select().from(registries).where(eq(registries.id, id)));
}

export function registryRows(db: Tx): Promise<RegistryRow[]> {
  const { registries } = tablesOf(db);
  return db.select().from(registries).orderBy(asc(registries.name));
}

export async function insertRegistry(tx: Tx, values: typeof registries.$inferInsert): Promise<RegistryRow> {
  const { registries } = tablesOf(tx);
  return (await firstRow(tx.insert(registries).values(values).returning()))!;
}

export async function changeRegistry(tx: Tx, id: number, values: Partial<Omit<RegistryRow, 'id' | 'name' | 'createdAt' | 'createdBy'>>): Promise<RegistryRow> {
  const { registries } = tablesOf(tx);
  return (await firstRow(tx.update(registries).set(values).where(eq(registries.id, id)).returning()))!;
}

export async function deleteRegistryRow(tx: Tx, id: number): Promise<void> {
  const { registries } = tablesOf(tx);
  await tx.delete(registries).where(eq(registries.id, id));
}

/** The names of the policies that copy to or from a registry. */
export async function policiesUsingRegistry(db: Tx, registryId: number): Promise<string[]> {
  const { replicationPolicies } = tablesOf(db);
  const rows = await db.select({ name: replicationPolicies.name }).from(replicationPolicies).where(eq(replicationPolicies.registryId, registryId)).orderBy(asc(replicationPolicies.name));
  return rows.map((r) => r.name);
}

export async function insertPolicyRow(tx: Tx, values: typeof replicationPolicies.$inferInsert): Promise<PolicyRow> {
  const { replicationPolicies } = tablesOf(tx);
  return (await firstRow(tx.insert(replicationPolicies).values(values).returning()))!;
}

// ---------------------------------------------------------------------------------------------
// Policies (the policies branch)

export type NewPolicyRow = typeof replicationPolicies.$inferInsert;

/** A policy with the names of its registry and project, as views show them. */
export interface NamedPolicyRow {
  policy: PolicyRow;
  registry: string;
  project: string;
}

function namedPolicies(db: Tx) {
  const { projects, registries, replicationPolicies } = tablesOf(db);
  return db
    .select({ policy: replicationPolicies, registry: registries.name, project: projects.name })
    .from(replicationPolicies)
    .innerJoin(registries, eq(registries.id, replicationPolicies.registryId))
    .innerJoin(projects, eq(projects.id, replicationPolicies.projectId));
}

export async function namedPolicyByName(db: Tx, name: string): Promise<NamedPolicyRow | undefined> {
  const { replicationPolicies } = tablesOf(db);
  return firstRow(namedPolicies(db).where(eq(replicationPolicies.name, name)));
}

/** A page of policies in name order. */
export function pageOfPolicies(db: Tx, page: PageRequest): Promise<Page<NamedPolicyRow>> {
  const { replicationPolicies } = tablesOf(db);
  return readPage(namedPolicies(db).orderBy(asc(replicationPolicies.name)), db.select({ n: count() }).from(replicationPolicies), page);
}

export async function insertPolicy(db: Tx, values: NewPolicyRow): Promise<PolicyRow> {
  const { replicationPolicies } = tablesOf(db);
  return (await firstRow(db.insert(replicationPolicies).values(values).returning()))!;
}

export async function updatePolicyRow(db: Tx, id: number, set: Partial<NewPolicyRow>): Promise<PolicyRow> {
  const { replicationPolicies } = tablesOf(db);
  return (await firstRow(db.update(replicationPolicies).set(set).where(eq(replicationPolicies.id, id)).returning()))!;
}

export async function deletePolicyRow(db: Tx, id: number): Promise<boolean> {
  const { replicationPolicies } = tablesOf(db);
  return rowsChanged(await db.delete(replicationPolicies).where(eq(replicationPolicies.id, id))) > 0;
}

/** Where a page of a project's tags ended: the next page starts after it. */
export interface TagCursor {
  repositoryId: number;
  tag: string;
}

export interface ProjectTag {
  repositoryId: number;
  repository: string;
  tag: string;
  digest: string;
}

/**
 * One page of every tag of every repository of a project, in (repository id, tag) order: the
 * tags' unique index walks it, so each page costs its own rows whatever the project's size.
 */
export function pageOfProjectTags(db: Tx, projectId: number, after: TagCursor | null, limit: number): Promise<ProjectTag[]> {
  const { repositories, tags } = tablesOf(db);
  const afterCursor = after
    ? or(gt(tags.repositoryId, after.repositoryId), and(eq(tags.repositoryId, after.repositoryId), gt(tags.name, after.tag)))
    : undefined;
  return db
    .select({ repositoryId: tags.repositoryId, repository: repositories.name, tag: tags.name, digest: tags.digest })
    .from(tags)
    .innerJoin(repositories, eq(repositories.id, tags.repositoryId))
    .where(and(eq(repositories.projectId, projectId), afterCursor))
    .orderBy(asc(tags.repositoryId), asc(tags.name))
    .limit(limit);
}

// ---- the runner's queries: policies by id and trigger, the event outbox

export async function policyById(db: Db | Tx, id: number): Promise<PolicyRow | undefined> {
  const { replicationPolicies } = tablesOf(db);
  return firstRow(db.select().from(replicationPolicies).where(eq(replicationPolicies.id, id)));
}

export async function projectNameById(db: Db | Tx, id: number): Promise<string | undefined> {
  const { projects } = tablesOf(db);
  return (await firstRow(db.select({ name: projects.name }).from(projects).where(eq(projects.id, id))))?.name;
}

/** The enabled, event-triggered push policies of a project. */
export async function eventPushPolicies(tx: Tx, project: string): Promise<PolicyRow[]> {
  const { projects, replicationPolicies } = tablesOf(tx);
  const rows = await tx
    .select({ policy: replicationPolicies })
    .from(replicationPolicies)
    .innerJoin(projects, eq(projects.id, replicationPolicies.projectId))
    .where(
      and(
        eq(projects.name, project),
        eq(replicationPolicies.enabled, true),
        eq(replicationPolicies.direction, 'push'),
        eq(replicationPolicies.triggerType, 'event'),
      ),
    );
  return rows.map((r) => r.policy);
}

/** The enabled cron-triggered policies. */
export async function cronPolicies(db: Db): Promise<PolicyRow[]> {
  const { replicationPolicies } = tablesOf(db);
  return db
    .select()
    .from(replicationPolicies)
    .where(and(eq(replicationPolicies.enabled, true), eq(replicationPolicies.triggerType, 'cron')));
}

export async function queueReplicationEvents(
  tx: Tx,
  rows: { policyId: number; operation: 'copy' | 'delete'; repository: string; tag: string; digest: string | null; seenAt: number }[],
): Promise<void> {
  if (rows.length === 0) return;
  const { replicationEvents } = tablesOf(tx);
  await tx.insert(replicationEvents).values(rows);
}

/** Policies with an outbox row seen at or before `seenBefore` (epoch ms). */
export async function policiesWithDueEvents(db: Db, seenBefore: number): Promise<number[]> {
  const { replicationEvents } = tablesOf(db);
  const rows = await db
    .selectDistinct({ policyId: replicationEvents.policyId })
    .from(replicationEvents)
    .where(lte(replicationEvents.seenAt, seenBefore));
  return rows.map((r) => r.policyId);
}

/** Takes (reads and deletes) a policy's outbox rows, oldest first, inside the caller's transaction. */
export async function takeReplicationEvents(tx: Tx, policyId: number) {
  const { replicationEvents } = tablesOf(tx);
  const rows = await tx.select().from(replicationEvents).where(eq(replicationEvents.policyId, policyId)).orderBy(asc(replicationEvents.id));
  if (rows.length > 0)
    await tx.delete(replicationEvents).where(and(eq(replicationEvents.policyId, policyId), lte(replicationEvents.id, rows[rows.length - 1]!.id)));
  return rows;
}

export async function policyRowByName(db: Db | Tx, name: string): Promise<PolicyRow | undefined> {
  const { replicationPolicies } = tablesOf(db);
  return firstRow(db.select().from(replicationPolicies).where(eq(replicationPolicies.name, name)));
}
