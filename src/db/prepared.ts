import type { RunResult, Tx } from './open';
import { engineOf } from './engine';

/** A prepared statement as SQLite's drizzle driver shapes it; on PostgreSQL the same three calls over a named statement. */
interface Statement {
  all(params?: Record<string, unknown>): Promise<unknown>;
  get(params?: Record<string, unknown>): Promise<unknown>;
  run(params?: Record<string, unknown>): Promise<RunResult>;
}

/** A drizzle query that can still be prepared: SQLite's `prepare()` takes no name, PostgreSQL's takes one. */
interface Preparable {
  prepare(): Statement;
}

/**
 * Prepared statements for hot lookups, built once per connection.
 *
 * Building a drizzle query and having better-sqlite3 compile it costs tens of microseconds; running
 * an already prepared statement costs a few. A prepared statement belongs to one connection, and
 * tests open many databases in one process, so statements are cached per drizzle session (a
 * WeakMap: a closed, dropped database takes its statements with it). On SQLite the database's
 * handle and its transactions' handle are two sessions on one connection
 * (src/db/sqlite-connection.ts): each prepares a statement once, and inside a transaction it sees
 * the transaction's uncommitted writes.
 *
 * On PostgreSQL the statement is a named one: node-postgres parses it once on each pooled
 * connection that runs it, so `name` must be unique per statement text. `session` is internal to
 * drizzle; if it is ever missing, the statement is prepared for that one call (correct, just not faster).
 */
export function preparedPerConnection<Q extends Preparable>(name: string, build: (db: Tx) => Q): (db: Tx) => ReturnType<Q['prepare']> {
  const bySession = new WeakMap<object, ReturnType<Q['prepare']>>();
  const prepare = (db: Tx) => (engineOf(db) === 'postgres' ? namedStatement(build(db), name) : build(db).prepare()) as ReturnType<Q['prepare']>;
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

type PgPrepared = { execute(params?: Record<string, unknown>): Promise<unknown> };

/** drizzle's PostgreSQL prepared query answers rows (or node-postgres's result) to `execute`: shaped as SQLite's three calls. */
function namedStatement(query: Preparable, name: string): Statement {
  const q = (query as unknown as { prepare(name: string): PgPrepared }).prepare(`wharf_${name}`);
  return {
    all: (params) => q.execute(params),
    get: async (params) => ((await q.execute(params)) as unknown[])[0],
    run: async (params) => ({ changes: ((await q.execute(params)) as { rowCount?: number | null }).rowCount ?? 0 }),
  };
}

function sessionOf(db: Tx): object | undefined {
  const session = (db as unknown as { session?: unknown }).session;
  return typeof session === 'object' && session !== null ? session : undefined;
}
