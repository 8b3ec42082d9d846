import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { resolveConfig } from '../../src/config/load';
import { openConfiguredDatabase } from '../../src/db/connect';
import { findPgTool } from '../../src/db/pg-dump';
import { createLog } from '../../src/log';
import { buildInstance } from '../../src/server';
import { contextFor } from '../../src/context';
import { userPrincipal } from '../../src/identity/authenticate';
import { findUser } from '../../src/identity/users';
import { createRegistry, registryEndpoint } from '../../src/replication/registries';
import { registryByName } from '../../src/replication/store';
import { runWharf, type CliResult } from '../support/cli';
import { fillThroughServices, startAppInstance, type AppInstance } from '../support/instance';
import { freePort } from '../support/ports';
import { postgresForFile, type PostgresServer } from '../support/postgres';
import { onPostgres, rowsByTable } from '../support/test-database';

/**
 * `wharf backup` and `wharf restore` on PostgreSQL, run as an operator runs them: a database made
 * through the services, dumped with pg_dump beside the keys and secrets, restored into a new
 * database, and a Wharf on it and the backup directory that holds the same rows and logs the same
 * users and robots in. SQLite's backup is tested in cli.test.ts.
 */

const DIGEST = `sha256:${'d'.repeat(64)}`;
const ALICE = 'alice:alice-password-1';
const modeOf = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);
const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;

/** A refusal: the given exit code, nothing on stdout, exactly one `wharf: ...` line on stderr. */
function refused(r: CliResult, code: number, pattern: RegExp) {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^wharf: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

const REGISTRY_PASSWORD = 'far-registry-password-1';

// Only the PostgreSQL leg's instances have a PostgreSQL database to dump.
describe.skipIf(!onPostgres)('wharf backup and restore on PostgreSQL', () => {
  let server: PostgresServer;
  let source: AppInstance;
  let work: string;
  let env: Record<string, string>;
  let robotCreds: string;
  const wharf = (args: string[], extra: Record<string, string> = {}) => runWharf(args, { ...env, ...extra });

  beforeAll(async () => {
    server = await postgresForFile();
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-pg-backup-'));
    source = await startAppInstance('wharf-pg-backup-data-');
    const deps = source.instance.deps;
    ({ robotCreds } = await fillThroughServices(source, DIGEST));
    // A registry whose password is sealed with the data directory's replication.key.
    const adminCtx = contextFor(deps, userPrincipal((await findUser(deps.db, 'admin'))!, 'password'), { username: 'admin' });
    await createRegistry(adminCtx, { name: 'far', url: 'https://far.example.org', kind: 'distribution', username: 'copier', password: REGISTRY_PASSWORD });
    // A failed login: a throttle row and a login_failed audit row.
    expect((await source.app.request('/api/v1/me', { headers: { authorization: basic('alice:wrong-password') } })).status).toBe(401);
    const registryPort = await freePort();
    env = {
      WHARF_DATA_DIR: source.dataDir,
      WHARF_DATABASE_URL: deps.config.database.url,
      WHARF_REGISTRY_MANAGE: 'false',
      WHARF_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    };
  }, 120_000);

  afterAll(async () => {
    await source?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('dumps a live database with the keys and secrets; restored into a new database, a Wharf on it has the same rows, users and robots', async () => {
    const before = await rowsByTable(source.instance.deps.db);
    const dir = path.join(work, 'backup-1');
    const backup = await wharf(['backup', dir]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toBe('');
    expect(backup.stdout).toMatch(/^ {2}wharf\.dump \([\d.]+ KiB, consistent snapshot: pg_dump custom format, \d+ entries, pg_dump 15\.\d+ of PostgreSQL 15\.\d+\)$/m);
    expect(backup.stdout).toContain('wharf restore');
    expect(backup.stdout).not.toContain(server.password);

    expect((await readdir(dir)).sort()).toEqual(['notification-secret', 'registry-http-secret', 'replication.key', 'token-signing.crt', 'token-signing.key', 'wharf.dump']);
    for (const f of await readdir(dir)) expect(await modeOf(path.join(dir, f)), f).toBe('600');
    expect(await modeOf(dir)).toBe('700');
    for (const f of ['token-signing.key', 'notification-secret', 'replication.key']) expect(await readFile(path.join(dir, f))).toEqual(await readFile(path.join(source.dataDir, f)));
    expect((await readFile(path.join(dir, 'wharf.dump'))).subarray(0, 5).toString()).toBe('PGDMP'); // pg_dump's custom format

    // The backup is audited with what it wrote, after the dump (so the dump does not hold its row).
    const after = await rowsByTable(source.instance.deps.db);
    const backupRows = after.audit!.map((r) => JSON.parse(r) as { action: string; username: string; resource: string; detail: string }).filter((r) => r.action === 'backup');
    expect(backupRows).toHaveLength(1);
    expect(backupRows[0]).toMatchObject({ username: '(cli)', resource: dir });
    expect(JSON.parse(backupRows[0]!.detail)).toEqual({
      engine: 'postgres',
      bytes: (await stat(path.join(dir, 'wharf.dump'))).size,
      durationMs: expect.any(Number),
      files: [path.join(dir, 'wharf.dump'), 'token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret', 'replication.key'],
      missing: [],
    });

    const restoredUrl = await server.createDatabase('wharf_restored');
    const restore = await wharf(['restore', dir], { WHARF_DATABASE_URL: restoredUrl, WHARF_DATA_DIR: path.join(work, 'unused-data') });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/^restored .*wharf\.dump into postgres:\/\/wharf@127\.0\.0\.1:\d+\/wharf_restored in \d+ ms$/m);
    expect(restore.stdout).not.toContain(server.password);
    expect(existsSync(path.join(work, 'unused-data')), 'restore leaves data directories alone').toBe(false);

    const config = resolveConfig({
      dataDir: dir,
      database: { url: restoredUrl },
      logLevel: 'silent',
      reconcileIntervalSeconds: 0,
      registry: { manage: 'false', url: env.WHARF_REGISTRY_URL! },
    });
    const restored = await openConfiguredDatabase(config);
    let restoredRows: Record<string, string[]>;
    try {
      restoredRows = await rowsByTable(restored.db);
    } finally {
      await restored.close();
    }
    const restoreRows = restoredRows.audit!.filter((r) => (JSON.parse(r) as { action: string }).action === 'restore');
    expect(restoreRows.map((r) => JSON.parse(r) as object)).toEqual([expect.objectContaining({ username: '(cli)', resource: dir })]);
    expect({ ...restoredRows, audit: restoredRows.audit!.filter((r) => !restoreRows.includes(r)) }).toEqual(before);
    expect(before.users!.length).toBeGreaterThan(1);
    for (const table of ['projects', 'members', 'robots', 'personalTokens', 'repositories', 'manifests', 'tags', 'sessions', 'loginThrottle'])
      expect(before[table]!.length, table).toBeGreaterThan(0);

    const instance = await buildInstance(config, { log: createLog('silent') });
    try {
      const app = createApp(instance.deps);
      const me = await app.request('/api/v1/me', { headers: { authorization: basic(ALICE) } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ username: 'alice' });
      const token = await app.request('/service/token?service=wharf-registry&scope=repository:team/app:pull,push', { headers: { authorization: basic(robotCreds) } });
      expect(token.status).toBe(200);
      const jwt = ((await token.json()) as { token: string }).token;
      const [header, claims] = jwt.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
      expect(claims!.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
      // Signed with the backup's key: the registry's rootcertbundle stays the same certificate.
      const sourceToken = await source.app.request('/service/token?service=wharf-registry&scope=repository:team/app:pull', { headers: { authorization: basic(ALICE) } });
      const sourceHeader = JSON.parse(Buffer.from(((await sourceToken.json()) as { token: string }).token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
      expect(header!.x5c).toEqual(sourceHeader.x5c);
      // The backup's replication.key opens the registry password sealed before the backup.
      expect(registryEndpoint(instance.deps, (await registryByName(instance.deps.db, 'far'))!).password).toBe(REGISTRY_PASSWORD);
      // The id sequences came along: a new user gets a fresh id.
      const created = await app.request('/api/v1/users', {
        method: 'POST',
        headers: { authorization: basic('admin:admin-password-1'), 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'bob', password: 'bob-password-1' }),
      });
      expect(created.status).toBe(201);
    } finally {
      await instance.close();
    }
  }, 120_000);

  it('refuses a missing or occupied DIR, a missing, old or failing pg_dump, an unreachable database and a non-empty restore target, with one line each', async () => {
    const occupied = path.join(work, 'occupied');
    await mkdir(occupied);
    await writeFile(path.join(occupied, 'wharf.dump'), 'an older backup');
    const fileTarget = path.join(work, 'a-file');
    await writeFile(fileTarget, 'not a directory');

    // Stand-ins for pg_dump: one that is too old, one that fails after noting how it was called.
    const fakes = path.join(work, 'fake-pg');
    const calls = path.join(work, 'calls.txt');
    const realDump = findPgTool('pg_dump', '')!;
    for (const [name, script] of [
      ['old/pg_dump', '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n'],
      [
        'failing/pg_dump',
        `#!/bin/sh\nif [ "$1" = --version ]; then exec ${realDump} --version; fi\n` +
          `{ echo "args: $*"; echo "PGPASSWORD=\${PGPASSWORD:-unset}"; stat -c %a "$PGPASSFILE"; echo "PGPASSFILE=$PGPASSFILE"; } > ${calls}\n` +
          'echo "pg_dump: error: query failed: ERROR:  permission denied for table users" >&2\nexit 1\n',
      ],
    ] as const) {
      const file = path.join(fakes, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, script);
      await chmod(file, 0o755);
      await symlink(findPgTool('pg_restore', '')!, path.join(path.dirname(file), 'pg_restore'));
    }
    const withPgDump = async (pgDump: string) => {
      const file = path.join(work, `config-${path.basename(path.dirname(pgDump))}.yaml`);
      await writeFile(file, `database:\n  pgDump: ${JSON.stringify(pgDump)}\n`);
      return { WHARF_CONFIG: file };
    };
    const auditBefore = (await rowsByTable(source.instance.deps.db)).audit!.length;
    const unreachable = env.WHARF_DATABASE_URL!.replace(`:${server.port}/`, ':1/');

    const [missingDir, extra, inOccupied, onFile, noPgDump, oldPgDump, failingPgDump, noDatabase, restoreNoDir, restoreNoDump, restoreNotEmpty] = await Promise.all([
      wharf(['backup']),
      wharf(['backup', path.join(work, 'x'), path.join(work, 'y')]),
      wharf(['backup', occupied]),
      wharf(['backup', fileTarget]),
      wharf(['backup', path.join(work, 'b-missing')], await withPgDump(path.join(work, 'nowhere', 'pg_dump'))),
      wharf(['backup', path.join(work, 'b-old')], await withPgDump(path.join(fakes, 'old', 'pg_dump'))),
      wharf(['backup', path.join(work, 'b-failing')], await withPgDump(path.join(fakes, 'failing', 'pg_dump'))),
      wharf(['backup', path.join(work, 'b-unreachable')], { WHARF_DATABASE_URL: unreachable }),
      wharf(['restore']),
      wharf(['restore', path.join(work, 'no-such-backup')]),
      wharf(['restore', occupied]),
    ]);
    refused(missingDir, 2, /missing target directory \(usage: wharf backup DIR\)/);
    refused(extra, 2, /unexpected argument/);
    refused(inOccupied, 1, /already holds wharf\.dump; back up into a new or empty directory/);
    refused(onFile, 1, /a-file exists and is not a directory/);
    refused(noPgDump, 1, /pg_dump not found: .*nowhere\/pg_dump is not an executable file \(database\.pgDump\)/);
    refused(oldPgDump, 1, /old\/pg_dump is version 9, older than the server's 15 \(15\.\d+.*\); install postgresql-client-15/);
    refused(failingPgDump, 1, /pg_dump failed \(exit 1\): pg_dump: error: query failed: ERROR: {2}permission denied for table users$/m);
    refused(noDatabase, 2, /database: cannot reach PostgreSQL at 127\.0\.0\.1:1: connection refused/);
    refused(restoreNoDir, 2, /missing backup directory/);
    refused(restoreNoDump, 1, /no-such-backup holds no wharf\.dump/);
    // The occupied directory's dump is not a dump, but the source's database is refused before pg_restore reads it.
    refused(restoreNotEmpty, 1, /the database "wharf_test_\w+" on 127\.0\.0\.1:\d+ is not empty \(\d+ tables, sequences or schemas\); restore into a new database/);
    for (const r of [noPgDump, oldPgDump, failingPgDump, noDatabase, restoreNotEmpty]) expect(r.stderr).not.toContain(server.password);

    // pg_dump had the password in a private passfile, not on its command line or in PGPASSWORD; the passfile is gone.
    const seen = await readFile(calls, 'utf8');
    expect(seen).toMatch(/^args: --format=custom --no-password --dbname=postgres:\/\/wharf@127\.0\.0\.1:\d+\/wharf_test_\w+$/m);
    expect(seen).toContain('PGPASSWORD=unset');
    expect(seen).toMatch(/^600$/m);
    expect(seen).not.toContain(server.password);
    expect(existsSync(/^PGPASSFILE=(.*)$/m.exec(seen)![1]!)).toBe(false);

    // Nothing was written: no backup directories, the occupied one as it was, no audit rows.
    for (const name of ['x', 'b-missing', 'b-old', 'b-failing', 'b-unreachable']) expect(existsSync(path.join(work, name)), name).toBe(false);
    expect(await readdir(occupied)).toEqual(['wharf.dump']);
    expect(await readFile(path.join(occupied, 'wharf.dump'), 'utf8')).toBe('an older backup');
    expect((await rowsByTable(source.instance.deps.db)).audit!.length).toBe(auditBefore);
  }, 120_000);
});
