import pg from 'pg';
import type { Config } from '../config/schema';
import type { Log } from '../log';
import { redactDatabaseUrl } from './database-url';
import { connectionOptions } from './pg';

/**
 * Work that must not overlap with the same work on another instance sharing the database (one
 * delete at a time per repository). `scope` names the kind of work, `name` the thing it is on.
 */
export interface NamedLocks {
  holding<T>(scope: string, name: string, work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** On SQLite one instance owns the file: its own in-memory turns are all it takes. */
export const soleInstanceLocks: NamedLocks = { holding: (_scope, _name, work) => work(), close: async () => {} };

/**
 * A session-level `pg_advisory_lock(hashtext(scope), hashtext(name))` held for the work's
 * duration on a connection of a pool of its own (lock holders never wait for the pool their work
 * queries through). Waiters queue on the server; a crashed holder's connection dies and takes the
 * lock with it, so nothing is ever left locked. Names whose hashes collide only take turns.
 */
export class AdvisoryNamedLocks implements NamedLocks {
  private pool: pg.Pool | null = null;

  constructor(
    private readonly database: Config['database'],
    private readonly log?: Log,
  ) {}

  async holding<T>(scope: string, name: string, work: () => Promise<T>): Promise<T> {
    const client = await this.connections().connect();
    let broken = false;
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', [scope, name]);
    } catch (err) {
      client.release(true);
      throw err;
    }
    try {
      return await work();
    } finally {
      try {
        await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [scope, name]);
      } catch {
        // A connection that cannot unlock is closed: its session, and the lock, end with it.
        broken = true;
      }
      client.release(broken || undefined);
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.end();
  }

  /** Opened on first use, so a CLI command that deletes nothing never connects. */
  private connections(): pg.Pool {
    if (this.pool) return this.pool;
    const pool = new pg.Pool({ ...connectionOptions(this.database), max: this.database.poolSize, keepAlive: true });
    pool.on('error', (err) => this.log?.warn({ err: err.message, database: redactDatabaseUrl(this.database.url) }, 'idle lock connection lost'));
    this.pool = pool;
    return pool;
  }
}

/** The named locks of `database.url`'s engine. */
export const namedLocksFor = (database: Config['database'], log?: Log): NamedLocks =>
  database.url === '' ? soleInstanceLocks : new AdvisoryNamedLocks(database, log);
