import { eq, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';

/**
 * Counts the changes that notifications and Wharf's own deletes make to each repository's tag
 * state. Reconcile reads the registry for a while before it writes; when a repository's count
 * moved meanwhile, what it read may predate a push or a delete that has already landed, so it
 * reads again instead of undoing that change. The counts are in the database, bumped with the
 * change, so a change made by another instance counts too.
 */
const bump = preparedPerConnection('bump_repository_changes', (db) => {
  const { repositoryChanges } = tablesOf(db);
  return db
    .insert(repositoryChanges)
    .values({ repository: sql.placeholder('repository'), seq: 1 })
    .onConflictDoUpdate({ target: repositoryChanges.repository, set: { seq: sql`${repositoryChanges.seq} + 1` } });
});

const read = preparedPerConnection('repository_changes', (db) => {
  const { repositoryChanges } = tablesOf(db);
  return db.select({ seq: repositoryChanges.seq }).from(repositoryChanges).where(eq(repositoryChanges.repository, sql.placeholder('repository')));
});

/** Pass the transaction of the change, so the count moves exactly when the change commits. */
export async function noteChange(tx: Tx, repository: string): Promise<void> {
  await bump(tx).run({ repository });
}

export const changeMark = async (db: Tx, repository: string): Promise<number> => (await read(db).get({ repository }))?.seq ?? 0;
