import { and, asc, eq, lte } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';
import type { registries, replicationPolicies } from '../db/schema';

export type RegistryRow = typeof registries.$inferSelect;
export type PolicyRow = typeof replicationPolicies.$inferSelect;

// ---- the runner's queries: policies by id and trigger, the event outbox

export async function policyById(db: Db | Tx, id: number): Promise<PolicyRow | undefined> {
  const { replicationPolicies } = tablesOf(db);
  return firstRow(db.select().from(replicationPolicies).where(eq(replicationPolicies.id, id)));
}

export async function registryRowById(db: Db | Tx, id: number): Promise<RegistryRow | undefined> {
  const { registries } = tablesOf(db);
  return firstRow(db.select().from(registries).where(eq(registries.id, id)));
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
