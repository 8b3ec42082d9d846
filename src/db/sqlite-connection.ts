import type Database from 'better-sqlite3';
import type { Db } from './open';

type Method = 'run' | 'all' | 'get' | 'values';
// drizzle's proxy driver types rows as any[]; `get` hands back one row (or undefined) in its place.
type Rows = { rows: any[]; changes?: number };

/** How long a statement waits for the connection before it is refused: a transaction that never ends. */
const WAIT_MS = 15_000;
const MAX_CACHED_STATEMENTS = 2_000;

export const connectionOf = Symbol('sqlite connection');
export const insideTransaction = Symbol('inside a transaction');

/**
 * The one better-sqlite3 connection, shared by every request, behind two async drizzle handles.
 *
 * better-sqlite3 runs statements synchronously and cannot keep a transaction open across an
 * await; yet services await between the statements of one transaction. So transactions take the
 * connection in turn, and while one holds it, statements from outside it (another request's)
 * wait for it to finish instead of landing inside it. `inside` is the handle given to the
 * transaction's own work; `outside` is everyone else's.
 */
export class SqliteConnection {
  private readonly statements = new Map<string, Database.Statement>();
  private held = false;
  private readonly waiting: Array<{ go: () => void }> = [];
  private savepoints = 0;

  constructor(readonly sqlite: Database.Database) {}

  readonly outside = async (sql: string, params: unknown[], method: Method): Promise<Rows> => {
    if (!this.held) return this.exec(sql, params, method);
    await this.acquire();
    try {
      return this.exec(sql, params, method);
    } finally {
      this.release();
    }
  };

  readonly inside = async (sql: string, params: unknown[], method: Method): Promise<Rows> => this.exec(sql, params, method);

  attach(outside: Db, inside: Db): Db {
    // drizzle's own transaction() would BEGIN on whichever handle it is called, outside the turns:
    // it takes its turn like every other transaction instead (a savepoint inside one).
    Object.assign(outside, { [connectionOf]: this, transaction: (work: (tx: Db) => Promise<unknown>) => this.transaction(work) });
    Object.assign(inside, { [connectionOf]: this, [insideTransaction]: true, transaction: (work: (tx: Db) => Promise<unknown>) => this.savepoint(work) });
    this.insideDb = inside;
    return outside;
  }

  private insideDb: Db | undefined;

  /** Runs `work` in one IMMEDIATE transaction, after any transaction already holding the connection. */
  async transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      this.exec('BEGIN IMMEDIATE', [], 'run');
      try {
        const result = await work(this.insideDb!);
        this.exec('COMMIT', [], 'run');
        return result;
      } catch (err) {
        if (this.sqlite.inTransaction) this.exec('ROLLBACK', [], 'run');
        throw err;
      }
    } finally {
      this.release();
    }
  }

  /** Runs `work` inside the open transaction so that its failure undoes its own writes only. */
  async savepoint<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    const name = `sp${++this.savepoints}`;
    this.exec(`SAVEPOINT ${name}`, [], 'run');
    try {
      const result = await work(this.insideDb!);
      this.exec(`RELEASE ${name}`, [], 'run');
      return result;
    } catch (err) {
      if (this.sqlite.inTransaction) {
        this.exec(`ROLLBACK TO ${name}`, [], 'run');
        this.exec(`RELEASE ${name}`, [], 'run');
      }
      throw err;
    } finally {
      this.savepoints--;
    }
  }

  private exec(sql: string, params: unknown[], method: Method): Rows {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.sqlite.prepare(sql);
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      this.statements.set(sql, statement);
      if (statement.reader) statement.raw(true);
    }
    if (!statement.reader) return { rows: [], changes: statement.run(params).changes };
    if (method === 'get') return { rows: statement.get(params) as unknown[] };
    const rows = statement.all(params);
    return { rows, changes: rows.length };
  }

  private acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        go: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(Object.assign(new Error('the database connection is held by a transaction that does not finish'), { code: 'SQLITE_BUSY' }));
      }, WAIT_MS);
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.go();
    else this.held = false;
  }
}
