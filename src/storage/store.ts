import { and, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';
import type { projectStorage } from '../db/schema';
import { storageRulesChanged } from './gates';

/** The SQL of the storage rules and quotas shared by the token gates and the storage services. */

export type ProjectStorageRow = typeof projectStorage.$inferSelect;

/** The storage row of each named project that has one (projects without a row have no rules and no quota). */
export async function projectStorageByNames(db: Tx, projectNames: string[]): Promise<(ProjectStorageRow & { project: string })[]> {
  if (projectNames.length === 0) return [];
  const { projects, projectStorage: ps } = tablesOf(db);
  const rows = await db
    .select({ row: ps, project: projects.name })
    .from(ps)
    .innerJoin(projects, eq(projects.id, ps.projectId))
    .where(inArray(projects.name, projectNames));
  return rows.map((r) => ({ ...r.row, project: r.project }));
}

export async function projectStorageOf(db: Tx, projectId: number): Promise<ProjectStorageRow | undefined> {
  const { projectStorage: ps } = tablesOf(db);
  return firstRow(db.select().from(ps).where(eq(ps.projectId, projectId)));
}

/** Creates the project's row with defaults when it has none, then applies `set`. */
export async function updateProjectStorage(db: Tx, projectId: number, set: Partial<Omit<ProjectStorageRow, 'projectId'>>): Promise<void> {
  const { projectStorage: ps } = tablesOf(db);
  await db
    .insert(ps)
    .values({ projectId, ...set })
    .onConflictDoUpdate({ target: ps.projectId, set });
  storageRulesChanged();
}

/** The tag names of one repository (for matching immutability rules). */
export async function tagNamesOfRepository(db: Tx, repository: string): Promise<string[]> {
  const { repositories, tags } = tablesOf(db);
  const rows = await db
    .select({ name: tags.name })
    .from(tags)
    .innerJoin(repositories, and(eq(repositories.id, tags.repositoryId), eq(repositories.name, repository)));
  return rows.map((r) => r.name);
}
