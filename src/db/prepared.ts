import type { Tx } from './open';

/**
 * Prepared statements for hot lookups, built once per connection.
 *
 * Building a drizzle query and having better-sqlite3 compile it costs tens of microseconds; running
 * an already prepared statement costs a few. A prepared statement belongs to one connection, and
 * tests open many databases in one process, so statements are cached per drizzle session (a
 * WeakMap: a closed, dropped database takes its statements with it).
 *
 * The session is the key, not the db object: `db.transaction(tx => ...)` hands out a transaction
 * object that wraps the SAME session (the same better-sqlite3 connection, see drizzle-orm's
 * better-sqlite3/session.js, nested savepoints included), so a statement prepared for the db also
 * runs inside the transaction and sees its uncommitted writes. `session` is internal to drizzle; if
 * it is ever missing, the statement is prepared for that one call (correct, just not faster).
 */
export function preparedPerConnection<T>(prepare: (db: Tx) => T): (db: Tx) => T {
  const bySession = new WeakMap<object, T>();
  return (db) => {
    const session = sessionOf(db);
    if (!session) return prepare(db);
    let statement = bySession.get(session);
    if (statement === undefined) {
      statement = prepare(db);
      bySession.set(session, statement);
    }
    return statement;
  };
}

function sessionOf(db: Tx): object | undefined {
  const session = (db as unknown as { session?: unknown }).session;
  return typeof session === 'object' && session !== null ? session : undefined;
}
