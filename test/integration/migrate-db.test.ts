import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { count, getTableName, is } from 'drizzle-orm';
import { SQLiteTable } from 'drizzle-orm/sqlite-core';
import path from 'node:path';
import { runCli } from '../../src/cli/run';
import { openDatabase } from '../../src/db/open';
import * as sqliteSchema from '../../src/db/schema';
import { findUser } from '../../src/identity/users';
import { fillThroughServices, startAppInstance } from '../support/instance';
import { postgresForFile, type PostgresServer } from '../support/postgres';
import { onPostgres } from '../support/test-database';

let server: PostgresServer;

beforeAll(async () => {
  server = await postgresForFile();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const DIGEST = `sha256:${'c'.repeat(64)}`;

/** Runs `wharf ARGS` in this process on a data directory; its result lines, and the exit code. */
async function wharf(dataDir: string, args: string[]): Promise<{ code: number | null; out: string[] }> {
  const out: string[] = [];
  const before = process.env.WHARF_DATA_DIR;
  process.env.WHARF_DATA_DIR = dataDir;
  try {
    return { code: await runCli(args, { out: (line) => out.push(line) }), out };
  } finally {
    if (before === undefined) delete process.env.WHARF_DATA_DIR;
    else process.env.WHARF_DATA_DIR = before;
  }
}

const tableNames = (Object.values(sqliteSchema).filter((v) => is(v, SQLiteTable)) as SQLiteTable[]).map((t) => ({ name: getTableName(t), table: t }));

// The copy starts from a SQLite data directory: on the PostgreSQL leg the instances have none.
describe.skipIf(onPostgres)('wharf migrate-db', () => {
  it('copies a data directory made through the services into an empty PostgreSQL database; every count matches; a second copy is refused', async () => {
    const running = await startAppInstance('wharf-migrate-db-');
    try {
      await fillThroughServices(running, DIGEST);

      const url = await server.createDatabase('migrate_target');
      const copied = await wharf(running.dataDir, ['migrate-db', '--to', url]);
      expect(copied.code, copied.out.join('\n')).toBe(0);
      expect(copied.out[0]).toMatch(/^copied \d+ rows from .*wharf\.db to postgres:\/\/wharf@127\.0\.0\.1:\d+\/migrate_target in \d+ ms; every table's row count matches$/);
      expect(copied.out.join('\n')).not.toContain(server.password);

      const source = openDatabase(path.join(running.dataDir, 'wharf.db'));
      const pool = new pg.Pool({ connectionString: url });
      try {
        for (const { name, table } of tableNames) {
          const inSqlite = (await source.db.select({ n: count() }).from(table).get())!.n;
          const inPg = Number((await pool.query(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n);
          expect({ name, rows: inPg }).toEqual({ name, rows: inSqlite });
        }
        const hash = (await findUser(source.db, 'alice'))!.passwordHash;
        const onPg = (await pool.query('SELECT password_hash, email, admin FROM users WHERE username = $1', ['alice'])).rows[0];
        expect(onPg).toEqual({ password_hash: hash, email: 'alice@example.org', admin: false });
        expect((await pool.query("SELECT public FROM projects WHERE name = 'team'")).rows[0]).toEqual({ public: false });
        expect((await pool.query("SELECT pushed_by FROM tags WHERE name = 'v1'")).rows[0]).toEqual({ pushed_by: 'alice' });
        // The kept list counts are the source's, not doubled by the target's triggers as the rows went in.
        const kept = async (q: string) => (await pool.query(q)).rows.map((r: { name: string; n: number }) => ({ name: r.name, n: Number(r.n) }));
        const sourceCounts = (await source.db.select({ name: sqliteSchema.repositories.name, n: sqliteSchema.repositories.tagCount }).from(sqliteSchema.repositories).orderBy(sqliteSchema.repositories.name).all());
        expect(sourceCounts.some((r) => r.n > 0)).toBe(true);
        expect(await kept('SELECT name, tag_count AS n FROM repositories ORDER BY name')).toEqual(sourceCounts);
        expect(await kept('SELECT p.name, p.repository_count AS n FROM projects p WHERE p.repository_count <> (SELECT count(*) FROM repositories r WHERE r.project_id = p.id)')).toEqual([]);
        // The id sequences continue after the copied rows: the next user gets a fresh id.
        const next = (await pool.query("INSERT INTO users (username, username_key) VALUES ('bob', 'bob') RETURNING id")).rows[0].id;
        const maxId = (await source.db.select().from(sqliteSchema.users).all()).reduce((m, u) => Math.max(m, u.id), 0);
        expect(Number(next)).toBeGreaterThan(maxId);
        await pool.query("DELETE FROM users WHERE username = 'bob'");

        const auditBefore = Number((await pool.query('SELECT count(*) AS n FROM audit')).rows[0].n);
        const again = await wharf(running.dataDir, ['migrate-db', '--to', url]);
        expect(again.code).toBe(1);
        expect(Number((await pool.query('SELECT count(*) AS n FROM audit')).rows[0].n)).toBe(auditBefore);
      } finally {
        await source.close();
        await pool.end();
      }
    } finally {
      await running.stop();
    }
  }, 120_000);

  it('refuses a missing, malformed or unreachable target with one line and writes nothing', async () => {
    const running = await startAppInstance('wharf-migrate-db-bad-');
    try {
      expect((await wharf(running.dataDir, ['migrate-db'])).code).toBe(2);
      expect((await wharf(running.dataDir, ['migrate-db', '--to', 'mysql://x@localhost/db'])).code).toBe(2);
      const unreachable = server.url('migrate_nowhere').replace(`:${server.port}/`, ':1/');
      expect((await wharf(running.dataDir, ['migrate-db', '--to', unreachable])).code).toBe(1);
      expect((await wharf(running.dataDir, ['migrate-db', '--to', server.url('no_such_database')])).code).toBe(1);
    } finally {
      await running.stop();
    }
  }, 60_000);
});
