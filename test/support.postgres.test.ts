import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from './support/postgres.js';

async function query(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

describe('postgres test fixture', () => {
  let server: PostgresServer;
  let startupMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    server = await startPostgres();
    startupMs = Date.now() - t0;
  });
  afterAll(() => server?.stop());

  it('serves PostgreSQL 15 on loopback with its socket in the temp dir, fsync off', async () => {
    const r = await query(server.url('postgres'), "SELECT current_setting('server_version_num') AS v, current_setting('fsync') AS fsync");
    expect(Number(r.rows[0].v)).toBeGreaterThanOrEqual(150000);
    expect(Number(r.rows[0].v)).toBeLessThan(160000);
    expect(r.rows[0].fsync).toBe('off');
    expect(existsSync(join(server.socketDir, `.s.PGSQL.${server.port}`))).toBe(true);
    expect(server.url('x')).toMatch(new RegExp(`^postgres://wharf:[0-9a-f]+@127\\.0\\.0\\.1:${server.port}/x$`));
    console.log(`postgres fixture started in ${startupMs} ms`);
  });

  it('makes separate databases', async () => {
    const a = await server.createDatabase('fixture_a');
    const b = await server.createDatabase('fixture_b');
    await query(a, 'CREATE TABLE only_in_a (x int)');
    expect((await query(a, "SELECT to_regclass('only_in_a') AS t")).rows[0].t).toBe('only_in_a');
    expect((await query(b, "SELECT to_regclass('only_in_a') AS t")).rows[0].t).toBeNull();
    await expect(server.createDatabase('Bad-Name')).rejects.toThrow(/plain identifier/);
  });

  it('refuses a wrong password over TCP', async () => {
    const wrong = server.url('postgres').replace(`:${server.password}@`, ':not-the-password@');
    await expect(query(wrong, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('stops and removes its data; a second stop is a no-op', async () => {
    const other = await startPostgres();
    await other.stop();
    await other.stop();
    expect(existsSync(other.socketDir)).toBe(false);
    await expect(query(other.url('postgres'), 'SELECT 1')).rejects.toThrow();
  });
});
