import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open';
import { packageFile } from '../../src/package-files';

/**
 * The SQLite migrations moved from drizzle/ to drizzle/sqlite/ unchanged: drizzle records each
 * file's SHA-256 in __drizzle_migrations, so a database migrated from the old folder opens as it was.
 */

/** sha256 of drizzle/<file>.sql as committed before the move; migrations are never edited, only added. */
const HASHES_BEFORE_THE_MOVE = [
  '679326110df783d430d5d2c5646bd612a2283d5ebaa077fc835a6baa51faee83',
  '04fb2f0990a407ea9b5f7a831565fb01310f26f830e7c56e97fe8f294f4a248a',
  '3ac3553cc0367dc090c647b111567b0b267ff1da1edfe7c6cf49fe0cbd82ab30',
  '2405e655aa663a1411b06ca90097fecab1eac73eb45d36a65b481773098d1303',
  '9c8e7f0a23cb9d7afa16445b395864212f9b944fd8adbb32fdd930be5d2db595',
  '58f430924254b047bc7977ff61df32c3b7fb59a47a85b46f4613e283d09c0d55',
  '2f59a52afe510beeee6fa72e15489b87888029d092f33e35e55aa249a3e27829',
  '46d28cb798999b0df6d8c761a86c2655b87062ac10e0cbfe6d0bc4f8e01ea0b0',
  '1b3bf971e759202537466ea35ecdf54ff237db70f672b685d9a21bc8cb3e9f42',
  '9e0bd1074c6ecf772e31e4502c602fd308e472fd1128b12d80662e59fbb63029',
  '853ee21d4b09d0907636d78520c958aba628f126cbacbb3ac6b86d5e1c7acf1c',
  'fedda86f228c5f651901acf89e09b7eaecfab87067077f38ca2923390c3f1ad2',
  '86714b0c382a934514e17e80cc8df0a1b31bb0a7bc8219f466c3f39448862269',
];

type Applied = { hash: string; created_at: number };
const applied = (sqlite: Database.Database) => sqlite.prepare('SELECT hash, created_at FROM __drizzle_migrations ORDER BY id').all() as Applied[];

describe('SQLite migrations in drizzle/sqlite/', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'wharf-migrations-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('open a database migrated from the old drizzle/ folder without applying anything again', async () => {
    const oldFolder = path.join(work, 'old', 'drizzle');
    cpSync(packageFile('drizzle', 'sqlite'), oldFolder, { recursive: true });
    const file = path.join(work, 'wharf.db');
    const before = new Database(file);
    migrate(drizzle(before), { migrationsFolder: oldFolder });
    before.prepare("INSERT INTO users (username, username_key) VALUES ('kept', 'kept')").run();
    const rowsBefore = applied(before);
    before.close();
    expect(rowsBefore.map((r) => r.hash).slice(0, HASHES_BEFORE_THE_MOVE.length)).toEqual(HASHES_BEFORE_THE_MOVE);

    const opened = openDatabase(file);
    try {
      expect(applied(opened.sqlite)).toEqual(rowsBefore);
      expect(opened.sqlite.prepare('SELECT username FROM users').all()).toEqual([{ username: 'kept' }]);
    } finally {
      await opened.close();
    }
  });

  it('fill the kept list counts of a database made before migration list_count_triggers', async () => {
    const before = path.join(work, 'before-counts');
    cpSync(packageFile('drizzle', 'sqlite'), before, { recursive: true });
    const journalFile = path.join(before, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
    const at = journal.entries.findIndex((e) => e.tag.endsWith('_list_count_triggers'));
    expect(at).toBeGreaterThan(0);
    writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
    const file = path.join(work, 'counts.db');
    const old = new Database(file);
    migrate(drizzle(old), { migrationsFolder: before });
    old.exec(`INSERT INTO projects (name) VALUES ('team'), ('empty');
      INSERT INTO repositories (name, project_id) VALUES ('team/a', 1), ('team/b', 1);
      INSERT INTO tags (repository_id, name, digest) VALUES (1, 'v1', 'sha256:1'), (1, 'v2', 'sha256:1'), (2, 'v1', 'sha256:2');`);
    old.close();

    const opened = openDatabase(file);
    try {
      expect(opened.sqlite.prepare('SELECT name, tag_count FROM repositories ORDER BY name').all()).toEqual([
        { name: 'team/a', tag_count: 2 },
        { name: 'team/b', tag_count: 1 },
      ]);
      expect(opened.sqlite.prepare('SELECT name, repository_count FROM projects ORDER BY name').all()).toEqual([
        { name: 'empty', repository_count: 0 },
        { name: 'team', repository_count: 2 },
      ]);
    } finally {
      await opened.close();
    }
  });
});
