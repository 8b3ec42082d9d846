import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/identity/passwords';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { run } from '../support/exec';
import { runWharf, spawnWharfServe, type CliResult } from '../support/cli';
import { buildImage, type BuiltImage } from '../support/oci';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';
import { onPostgres } from '../support/test-database';

/**
 * The `wharf` command, run as a child process exactly as an operator runs it
 * (`tsx src/cli.ts ...` with WHARF_* variables): users, htpasswd import (then a real push with an
 * imported bcrypt password), an online backup taken while pushes are in flight and restored,
 * reconcile, serve, and bad input.
 */

/** Runs one `wharf` command with only the given WHARF_* variables. */
const wharf = (args: string[], env: Record<string, string>, input = ''): Promise<CliResult> => runWharf(args, env, input);

const ok = (r: CliResult) => expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);

/** A refusal: the given exit code, nothing on stdout, exactly one `wharf: ...` line on stderr. */
function refused(r: CliResult, code: number, pattern: RegExp) {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^wharf: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

// The commands run as child processes on a data directory and these tests read its SQLite file with
// plain SQL; on PostgreSQL they are skipped (backup and restore on PostgreSQL: backup-postgres.test.ts).

/** Reads the database file of a data directory the way an operator would (another connection). */
function query<T>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path.join(dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Everything a refused command must leave alone: users, audit, projects, the files of the data dir. */
async function snapshot(dataDir: string) {
  return JSON.stringify({
    users: query(dataDir, 'select * from users order by id'),
    audit: query(dataDir, 'select count(*) n, max(id) last from audit'),
    projects: query(dataDir, 'select * from projects order by id'),
    files: (await readdir(dataDir)).filter((f) => !f.startsWith('wharf.db-')).sort(),
  });
}

const modeOf = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);

let work: string;
const images: BuiltImage[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-cli-'));
  images.push(...(await Promise.all([0, 1, 2, 3].map((i) => buildImage(path.join(work, `img${i}`), { layers: 1 })))));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe.skipIf(onPostgres)('wharf user and bad input (no registry)', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dataDir = path.join(work, 'users-data');
    env = { WHARF_DATA_DIR: dataDir, WHARF_REGISTRY_MANAGE: 'false' };
  });

  it('creates, lists, disables, re-enables users and sets passwords; every change is audited', async () => {
    // A command that only reads refuses a data directory without a database, and creates nothing.
    refused(await wharf(['user', 'list'], env), 1, /no Wharf database in .*users-data/);
    expect(existsSync(dataDir)).toBe(false);

    // The first user initialises the data directory as the first start would: admin gets a
    // generated password, printed once.
    const alice = await wharf(['user', 'create', 'alice', '--email', 'alice@example.org'], env);
    ok(alice);
    const adminPassword = /created user "admin" with password (\S+)/.exec(alice.stdout)?.[1];
    const alicePassword = /^password: (\S+)/m.exec(alice.stdout)?.[1];
    expect(adminPassword).toBeTruthy();
    expect(alicePassword).toBeTruthy();
    expect(alice.stdout).toContain('created user alice');

    const bob = await wharf(['user', 'create', 'bob', '--admin', '--password-stdin'], env, 'bob-password-1\n');
    ok(bob);
    expect(bob.stdout).toBe('created user bob (system admin)\n'); // no password printed when given

    const hashes = Object.fromEntries(query<{ username: string; password_hash: string }>(dataDir, 'select username, password_hash from users').map((u) => [u.username, u.password_hash]));
    expect(Object.keys(hashes).sort()).toEqual(['admin', 'alice', 'bob']);
    expect(await verifyPassword(adminPassword!, hashes.admin!)).toBe(true);
    expect(await verifyPassword(alicePassword!, hashes.alice!)).toBe(true);
    expect(await verifyPassword('bob-password-1', hashes.bob!)).toBe(true);

    const list = await wharf(['user', 'list'], env);
    ok(list);
    expect(list.stdout).toMatch(/^USERNAME\s+ADMIN\s+DISABLED\s+SOURCE\s+EMAIL\s+LAST LOGIN$/m);
    expect(list.stdout).toMatch(/^alice\s+no\s+no\s+local\s+alice@example\.org\s+-$/m);
    expect(list.stdout).toMatch(/^bob\s+yes\s+no\s+local\s/m);
    expect(list.stdout).toContain('3 users');
    for (const out of [alice.stdout, bob.stdout, list.stdout]) expect(out).not.toMatch(/scrypt\$|\$2[aby]\$/);

    const version = () => query<{ v: number; d: number }>(dataDir, "select credential_version v, disabled d from users where username = 'alice'")[0]!;
    expect(version()).toEqual({ v: 1, d: 0 });
    ok(await wharf(['user', 'disable', 'alice'], env));
    expect(version()).toEqual({ v: 2, d: 1 }); // disabling revokes tokens and cached credentials
    const json = await wharf(['user', 'list', '--json'], env);
    ok(json);
    expect((JSON.parse(json.stdout) as { username: string; disabled: boolean }[]).find((u) => u.username === 'alice')!.disabled).toBe(true);

    ok(await wharf(['user', 'passwd', 'alice', '--password-stdin'], env, 'alice-password-2\n'));
    expect(version().v).toBe(3);
    const newHash = query<{ h: string }>(dataDir, "select password_hash h from users where username = 'alice'")[0]!.h;
    expect(await verifyPassword('alice-password-2', newHash)).toBe(true);
    expect(await verifyPassword(alicePassword!, newHash)).toBe(false);

    const generated = await wharf(['user', 'passwd', 'bob'], env);
    ok(generated);
    const bobPassword = /^password: (\S+)/m.exec(generated.stdout)?.[1];
    expect(await verifyPassword(bobPassword!, query<{ h: string }>(dataDir, "select password_hash h from users where username = 'bob'")[0]!.h)).toBe(true);

    ok(await wharf(['user', 'enable', 'alice'], env));
    expect(version()).toEqual({ v: 3, d: 0 });

    // A name with a quote and a space: the printed command is one shell word, pasted as it is.
    const quoted = await wharf(['user', 'create', "o'brien smith"], env);
    ok(quoted);
    expect(quoted.stdout).toContain(`wharf user passwd 'o'\\''brien smith'`);
    ok(await wharf(['user', 'disable', "O'Brien Smith"], env));
    expect(query<{ d: number }>(dataDir, "select disabled d from users where username = 'o''brien smith'")[0]!.d).toBe(1);

    // The CLI's own actor name cannot collide with a user's: a user named "cli" is managed like any other.
    ok(await wharf(['user', 'create', 'cli', '--password-stdin'], env, 'cli-password-1\n'));
    ok(await wharf(['user', 'disable', 'cli'], env));
    ok(await wharf(['user', 'passwd', 'cli', '--password-stdin'], env, 'cli-password-2\n'));
    const cliUser = query<{ h: string; d: number }>(dataDir, "select password_hash h, disabled d from users where username = 'cli'")[0]!;
    expect(cliUser.d).toBe(1);
    expect(await verifyPassword('cli-password-2', cliUser.h)).toBe(true);

    const rows = query<{ username: string; action: string; resource: string; detail: string | null }>(
      dataDir,
      "select username, action, resource, detail from audit where action like 'user_%' order by id",
    );
    expect(rows.map((r) => [r.username, r.action, r.resource])).toEqual([
      ['system', 'user_create', 'admin'],
      ['(cli)', 'user_create', 'alice'],
      ['(cli)', 'user_create', 'bob'],
      ['(cli)', 'user_update', 'alice'],
      ['(cli)', 'user_update', 'alice'],
      ['(cli)', 'user_update', 'bob'],
      ['(cli)', 'user_update', 'alice'],
      ['(cli)', 'user_create', "o'brien smith"],
      ['(cli)', 'user_update', "o'brien smith"],
      ['(cli)', 'user_create', 'cli'],
      ['(cli)', 'user_update', 'cli'],
      ['(cli)', 'user_update', 'cli'],
    ]);
    expect(JSON.stringify(rows)).not.toMatch(/scrypt\$|password-2/);
  });

  it('refuses bad input with one line on stderr, a non-zero exit code, and no change', async () => {
    const before = await snapshot(dataDir);
    const target = path.join(work, 'occupied');
    await mkdir(target);
    await writeFile(path.join(target, 'wharf.db'), 'an older backup');
    const [unknown, noCommand, badName, missingName, missingFile, occupied, missingDir, shortPw, noUser, badOption, badConfig, badServeConfig, unknownSub] =
      await Promise.all([
        wharf(['frobnicate'], env),
        wharf([], env),
        wharf(['user', 'create', 'bad:name'], env),
        wharf(['user', 'create'], env),
        wharf(['import-htpasswd', path.join(work, 'no-such.htpasswd')], env),
        wharf(['backup', target], env),
        wharf(['backup'], env),
        wharf(['user', 'create', 'carol', '--password-stdin'], env, 'short\n'),
        wharf(['user', 'disable', 'nobody'], env),
        wharf(['user', 'list', '--colour'], env),
        wharf(['user', 'list'], { ...env, WHARF_LISTEN: 'nonsense' }),
        wharf(['serve'], { ...env, WHARF_REGISTRY_MANAGE: 'sometimes' }),
        wharf(['user', 'rename', 'alice'], env),
      ]);
    refused(unknown, 2, /unknown command "frobnicate"/);
    refused(noCommand, 2, /missing command/);
    refused(badName, 1, /username must be/);
    refused(missingName, 2, /missing user name/);
    refused(missingFile, 1, /cannot read .*no-such\.htpasswd: no such file/);
    refused(occupied, 1, /already holds wharf\.db/);
    refused(missingDir, 2, /missing target directory/);
    refused(shortPw, 1, /at least 8 characters/);
    refused(noUser, 1, /user nobody not found/);
    refused(badOption, 2, /Unknown option '--colour'/);
    refused(badConfig, 2, /invalid configuration: listen: .*WHARF_LISTEN/);
    refused(badServeConfig, 2, /invalid configuration: registry\.manage: .*WHARF_REGISTRY_MANAGE/);
    refused(unknownSub, 2, /unknown subcommand "user rename"/);
    expect(await snapshot(dataDir)).toBe(before);
    expect(await readFile(path.join(target, 'wharf.db'), 'utf8')).toBe('an older backup');
    expect(await readdir(target)).toEqual(['wharf.db']);

    const help = await wharf(['--help'], env);
    ok(help);
    expect(help.stdout).toMatch(/^Usage: wharf <command>/);
    for (const c of ['serve', 'user create', 'import-htpasswd', 'backup', 'restore', 'reconcile', 'signing-key stage', 'signing-key retire [--force]', 'notification-secret activate'])
      expect(help.stdout).toContain(c);
  });

  it('serve runs the server like npm start and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawnWharfServe({ ...env, WHARF_LISTEN: `127.0.0.1:${port}`, WHARF_LOG_LEVEL: 'silent' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const me = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/me`, {
          headers: { authorization: `Basic ${Buffer.from('alice:alice-password-2').toString('base64')}` },
        });
        return res.status === 200 ? ((await res.json()) as { username: string }) : null;
      }, 20_000, 'wharf serve answering');
      expect(me!.username).toBe('alice');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
  });
});

describe.skipIf(onPostgres)('wharf import-htpasswd, then a real Wharf and registry', () => {
  it('imports bcrypt users from a real htpasswd file; they push with their old password, rehashed on first login', async () => {
    const dataDir = path.join(work, 'htpasswd-data');
    const file = path.join(work, 'users.htpasswd');
    for (const args of [
      ['-B', '-b', '-c', file, 'alice', 'pw1'],
      ['-B', '-b', file, 'bob', 'pw2'],
      ['-m', '-b', file, 'carol', 'pw3'], // MD5 (apr1)
      ['-s', '-b', file, 'dave', 'pw4'], // {SHA}
      ['-B', '-b', file, 'system', 'pw5'], // a name the audit log reserves
      ['-B', '-b', file, "o'brien", 'pw6'], // any name HTTP Basic can carry
      ['-B', '-b', file, 'Alice', 'pw7'], // alice again, in another case
    ]) {
      const r = await run('htpasswd', args);
      expect(r.code, r.stderr).toBe(0);
    }
    await writeFile(file, (await readFile(file, 'utf8')) + '\n# a comment\nthis line has no colon\n');

    // Into a new data directory: the CLI initialises it (admin from WHARF_ADMIN_PASSWORD), so the
    // server's first start still has its administrator.
    const env = { WHARF_DATA_DIR: dataDir, WHARF_REGISTRY_MANAGE: 'false', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD };
    const imported = await wharf(['import-htpasswd', file], env);
    ok(imported);
    expect(imported.stdout).toContain('imported alice (line 1)');
    expect(imported.stdout).toContain('imported bob (line 2)');
    expect(imported.stdout).toContain('initialised the data directory: created user "admin" with the password from WHARF_ADMIN_PASSWORD');
    expect(imported.stdout).toMatch(/skipped line 3 \(carol\): an MD5 \(apr1\) hash/);
    expect(imported.stdout).toMatch(/skipped line 4 \(dave\): a SHA-1 hash/);
    expect(imported.stdout).toMatch(/skipped line 5 \(system\): reserved user name/);
    expect(imported.stdout).toContain("imported o'brien (line 6)");
    expect(imported.stdout).toMatch(/skipped line 7 \(Alice\): listed again \(first on line 1/);
    expect(imported.stdout).toMatch(/skipped line 10: malformed line/);
    expect(imported.stdout).toMatch(/^imported 3, skipped 5 \(/m);
    expect(imported.stdout).not.toMatch(/\$2[aby]\$|\$apr1\$|\{SHA\}/);
    expect(imported.stderr).toBe('');

    // Running it again changes nothing: existing users are never overwritten.
    const again = await wharf(['import-htpasswd', file], env);
    ok(again);
    expect(again.stdout).toMatch(/skipped line 1 \(alice\): already exists/);
    expect(again.stdout).toMatch(/^imported 0, skipped 8 /m);

    const audits = query<{ username: string; resource: string; detail: string }>(dataDir, "select username, resource, detail from audit where action = 'user_create' order by id");
    expect(audits.map((a) => [a.username, a.resource])).toEqual([
      ['system', 'admin'],
      ['(cli)', 'alice'],
      ['(cli)', 'bob'],
      ['(cli)', "o'brien"],
    ]);
    expect(JSON.parse(audits[1]!.detail)).toMatchObject({ source: 'htpasswd', admin: false });

    const w = await startTestWharf({}, { dataDir });
    try {
      expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
      expect((await w.api('PUT', '/api/v1/projects/team/members/alice', { auth: admin, body: { role: 'developer' } })).status).toBe(200);
      const hash = (name: string) => w.wharf.database.sqlite!.prepare('select password_hash h, source s from users where username = ?').get(name) as { h: string; s: string };
      expect(hash('alice').h).toMatch(/^\$2y\$/);

      const pushed = await skopeoCopy(`oci:${images[0]!.dir}:latest`, `docker://${w.registry}/team/app:1`, { destCreds: 'alice:pw1' });
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(hash('alice')).toEqual({ h: expect.stringMatching(/^scrypt\$/), s: 'htpasswd' });
      expect(hash('bob').h).toMatch(/^\$2y\$/); // not logged in yet

      const wrong = await skopeoCopy(`oci:${images[0]!.dir}:latest`, `docker://${w.registry}/team/app:2`, { destCreds: 'alice:pw2' });
      expect(wrong.code).not.toBe(0);
      expect((await skopeoInspect(`docker://${w.registry}/team/app:1`, 'alice:pw1')).code).toBe(0); // still good after the rehash
      expect((await w.api('GET', '/api/v1/me', { auth: 'carol:pw3' })).status).toBe(401); // never imported

      expect((await w.api('GET', '/api/v1/me', { auth: 'bob:pw2' })).body).toMatchObject({ username: 'bob', source: 'htpasswd' });
      expect(hash('bob').h).toMatch(/^scrypt\$/);
    } finally {
      await w.stop();
    }
  });
});

describe.skipIf(onPostgres)('wharf backup while pushes are in flight, restore, and reconcile', () => {
  it('takes a consistent online backup that a new instance starts from with the same users, projects, audit, key and tags', async () => {
    const dataDir = path.join(work, 'live-data');
    const target = path.join(work, 'backup-1');
    const DEV = 'dev:dev-password-1';
    const w1 = await startTestWharf({}, { dataDir });
    let before: { digest: string; x5c: string[]; registryConfig: string };
    const pushed: string[] = [];
    let backupRun: CliResult;
    let backupStart = 0;
    let backupEnd = 0;
    const finishedAt: number[] = [];
    try {
      expect((await w1.api('POST', '/api/v1/users', { auth: admin, body: { username: 'dev', password: 'dev-password-1' } })).status).toBe(201);
      expect((await w1.api('POST', '/api/v1/projects', { auth: DEV, body: { name: 'team' } })).status).toBe(201);
      const first = await skopeoCopy(`oci:${images[0]!.dir}:latest`, `docker://${w1.registry}/team/app:before`, { destCreds: DEV });
      expect(first.code, first.stderr).toBe(0);
      await waitFor(async () => (await w1.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: DEV })).body.items?.length === 1);
      before = {
        digest: images[0]!.manifestDigest,
        x5c: await tokenX5c(w1, DEV),
        registryConfig: await readFile(path.join(dataDir, 'registry-config.yml'), 'utf8'),
      };

      // Three workers push new tags (the notifications write to the database) until the backup is done.
      let done = false;
      const workers = [1, 2, 3].map(async (i) => {
        for (let n = 0; !done; n++) {
          const ref = `team/w${i}:${n}`;
          const r = await skopeoCopy(`oci:${images[i]!.dir}:latest`, `docker://${w1.registry}/${ref}`, { destCreds: DEV });
          expect(r.code, r.stderr).toBe(0);
          pushed.push(ref);
          finishedAt.push(Date.now());
        }
      });
      await new Promise((r) => setTimeout(r, 300)); // the first pushes are on the wire
      backupStart = Date.now();
      backupRun = await wharf(['backup', target], { WHARF_DATA_DIR: dataDir, WHARF_REGISTRY_MANAGE: 'false' });
      backupEnd = Date.now();
      done = true;
      await Promise.all(workers);

      ok(backupRun);
      expect(backupRun.stderr).toBe('');
      expect(backupRun.stdout).toMatch(/blob storage \(.*live-data\/registry\) is NOT part of this backup/);
      expect(finishedAt.filter((t) => t > backupStart && t < backupEnd).length, 'pushes finished while the backup ran').toBeGreaterThan(0);
      // The CLI did not rewrite the registry configuration of the running instance.
      expect(await readFile(path.join(dataDir, 'registry-config.yml'), 'utf8')).toBe(before.registryConfig);
      const backupAudit = w1.wharf.database.sqlite!.prepare("select username, resource, outcome from audit where action = 'backup'").all();
      expect(backupAudit).toEqual([{ username: '(cli)', resource: target, outcome: 'success' }]);

      // One reconcile against the live registry, from the CLI.
      const rec = await wharf(['reconcile'], { WHARF_DATA_DIR: dataDir, WHARF_REGISTRY_MANAGE: 'false', WHARF_REGISTRY_URL: `http://${w1.registry}` });
      ok(rec);
      expect(rec.stdout).toContain(`repositories 4, tags ${pushed.length + 1}`);
      expect(rec.stdout).toMatch(/^added \d+, removed 0, repaired 0, skipped 0$/m);
    } finally {
      await w1.stop();
    }

    // The backup itself: complete, self-contained, private.
    expect((await readdir(target)).sort()).toEqual(['notification-secret', 'registry-http-secret', 'replication.key', 'token-signing.crt', 'token-signing.key', 'wharf.db']);
    for (const f of await readdir(target)) expect(await modeOf(path.join(target, f)), f).toBe('600');
    expect(await modeOf(target)).toBe('700');
    expect(query<{ integrity_check: string }>(target, 'pragma integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    const backedTags = query<{ name: string }>(target, "select t.name from tags t join repositories r on r.id = t.repository_id where r.name = 'team/app'");
    expect(backedTags).toEqual([{ name: 'before' }]);

    const w2 = await startTestWharf({ registry: { storage: path.join(dataDir, 'registry') } }, { dataDir: target });
    try {
      const users = (await w2.api('GET', '/api/v1/users', { auth: admin })).body.items.map((u: { username: string }) => u.username);
      expect(users).toEqual(['admin', 'dev']);
      const projects = (await w2.api('GET', '/api/v1/projects', { auth: DEV })).body.items.map((p: { name: string }) => p.name);
      expect(projects).toContain('team');
      const audit = (await w2.api('GET', '/api/v1/audit?pageSize=500', { auth: admin })).body.items as { action: string; resource: string; tag: string; time: string }[];
      const early = audit.filter((a) => Date.parse(a.time) < backupStart);
      expect(early.some((a) => a.action === 'user_create' && a.resource === 'dev')).toBe(true);
      expect(early.some((a) => a.action === 'project_create' && a.resource === 'team')).toBe(true);
      expect(early.some((a) => a.action === 'push' && a.tag === 'before')).toBe(true);
      expect(await tokenX5c(w2, DEV)).toEqual(before!.x5c);

      const tags = (await w2.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: DEV })).body.items as { name: string; digest: string }[];
      expect(tags.find((t) => t.name === 'before')?.digest).toBe(before!.digest);
      const pulled = await skopeoInspect(`docker://${w2.registry}/team/app:before`, DEV);
      expect(pulled.code, pulled.stderr).toBe(0);
    } finally {
      await w2.stop();
    }
  });
});

/** The `x5c` header of a registry token Wharf issues: its signing certificate chain. */
async function tokenX5c(w: TestWharf, creds: string): Promise<string[]> {
  const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:team/app:pull`, {
    headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as { token: string };
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).x5c;
}
