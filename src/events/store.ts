import { sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { tablesOf } from '../db/engine';
import { preparedPerConnection } from '../db/prepared';

// Every event runs it: prepared once per connection instead of built per event.
const markSeen = preparedPerConnection('mark_event_seen', (db) => {
  const { eventsSeen } = tablesOf(db);
  return db.insert(eventsSeen).values({ id: sql.placeholder('id') }).onConflictDoNothing();
});

/** Records a registry event's id; false when it was seen before (the event is then applied no more). */
export const markEventSeen = async (tx: Tx, id: string): Promise<boolean> => (await markSeen(tx).run({ id })).changes > 0;
