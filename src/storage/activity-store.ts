import { and, desc, eq, gte, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';

/**
 * Pushes and pulls per project and UTC day (project_activity), counted as notifications are
 * applied, and what the project's storage page reads: its usage row, its largest repositories.
 */

// Once per (project, day) of every applied notification batch: prepared once per connection.
const activityUpsert = preparedPerConnection('project_activity_add', (db) => {
  const { projectActivity, projects } = tablesOf(db);
  return db
    .insert(projectActivity)
    .select(
      db
        .select({
          projectId: projects.id,
          day: sql<string>`cast(${sql.placeholder('day')} as text)`.as('day'),
          pushes: sql<number>`cast(${sql.placeholder('pushes')} as integer)`.as('pushes'),
          pulls: sql<number>`cast(${sql.placeholder('pulls')} as integer)`.as('pulls'),
        })
        .from(projects)
        .where(eq(projects.name, sql.placeholder('project'))),
    )
    .onConflictDoUpdate({
      target: [projectActivity.projectId, projectActivity.day],
      set: { pushes: sql`${projectActivity.pushes} + excluded.pushes`, pulls: sql`${projectActivity.pulls} + excluded.pulls` },
    });
});

/** Adds to a project's counts of one day; nothing when there is no such project. */
export async function addProjectActivity(db: Tx, a: { project: string; day: string; pushes: number; pulls: number }): Promise<void> {
  await activityUpsert(db).run(a);
}

/** The project's days from `fromDay` (YYYY-MM-DD) on, oldest first. */
export async function projectActivitySince(db: Tx, projectId: number, fromDay: string): Promise<{ day: string; pushes: number; pulls: number }[]> {
  const { projectActivity } = tablesOf(db);
  return db
    .select({ day: projectActivity.day, pushes: projectActivity.pushes, pulls: projectActivity.pulls })
    .from(projectActivity)
    .where(and(eq(projectActivity.projectId, projectId), gte(projectActivity.day, fromDay)))
    .orderBy(projectActivity.day);
}

/** The project's repositories by the bytes of their distinct blobs (manifest_blobs), largest first. */
export async function largestRepositories(db: Tx, projectId: number, limit = 10): Promise<{ name: string; bytes: number }[]> {
  const { manifestBlobs, repositories } = tablesOf(db);
  const blobs = db
    .selectDistinct({ repositoryId: manifestBlobs.repositoryId, blobDigest: manifestBlobs.blobDigest, size: manifestBlobs.size })
    .from(manifestBlobs)
    .innerJoin(repositories, eq(repositories.id, manifestBlobs.repositoryId))
    .where(eq(repositories.projectId, projectId))
    .as('blobs');
  const bytes = sql<number>`coalesce(sum(${blobs.size}), 0)`.mapWith(Number);
  return db
    .select({ name: repositories.name, bytes })
    .from(blobs)
    .innerJoin(repositories, eq(repositories.id, blobs.repositoryId))
    .groupBy(repositories.name)
    .orderBy(desc(bytes), repositories.name)
    .limit(limit);
}
