/**
 * Counts the changes that notifications and Wharf's own deletes make to each repository's tag
 * state. Reconcile reads the registry for a while before it writes; when a repository's count
 * moved meanwhile, what it read may predate a push or a delete that has already landed, so it
 * reads again instead of undoing that change. Counts are per database, in memory: the writers
 * and reconcile share one process.
 */
const counts = new WeakMap<object, Map<string, number>>();

function of(db: object): Map<string, number> {
  let m = counts.get(db);
  if (!m) counts.set(db, (m = new Map()));
  return m;
}

export function noteChange(db: object, repository: string): void {
  const m = of(db);
  m.set(repository, (m.get(repository) ?? 0) + 1);
}

export const changeMark = (db: object, repository: string): number => of(db).get(repository) ?? 0;
