import { asc, eq } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';
import type { registries, replicationPolicies } from '../db/schema';

/** The queries of replication's registries and policies: the services' only SQL. */

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

