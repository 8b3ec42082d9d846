import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { packageFile } from '../../src/package-files';

/**
 * Rolling upgrades: while two instances are replaced one by one, the previous version keeps
 * running against the schema the new version migrated, so every migration after the baseline
 * only adds (tables, nullable columns, columns with a default, indexes). A destructive change is
 * split across two releases (expand, then contract; README "Upgrading several instances"): this
 * test fails on a migration that drops or renames a table or column, changes a column's type,
 * makes a column NOT NULL, adds a NOT NULL column without a default, or drops a unique index the
 * previous version's upserts may name. It compares each migration's drizzle-kit snapshot with the
 * one before, and reads its SQL for what a hand-written migration could do beside the snapshot.
 */

/**
 * The last migration of each engine when this check came in: the history up to them was written
 * for one instance at a time and is never checked. A contract step that has to drop something
 * moves its engine's baseline to that migration, in the release that drops it, and says so.
 */
const BASELINE = { sqlite: '0012_repository_changes', pg: '0000_init' } as const;

type Engine = keyof typeof BASELINE;

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  primaryKey?: boolean;
  default?: unknown;
  autoincrement?: boolean;
  identity?: unknown;
  generated?: unknown;
}
interface Table {
  name: string;
  columns: Record<string, Column>;
  indexes: Record<string, { name: string; isUnique: boolean }>;
  uniqueConstraints?: Record<string, { name: string }>;
}
interface Snapshot {
  tables: Record<string, Table>;
}
interface Journal {
  entries: { idx: number; tag: string }[];
}

const journalOf = (engine: Engine) => JSON.parse(readFileSync(packageFile('drizzle', engine, 'meta', '_journal.json'), 'utf8')) as Journal;
const snapshotOf = (engine: Engine, idx: number) =>
  JSON.parse(readFileSync(packageFile('drizzle', engine, 'meta', `${String(idx).padStart(4, '0')}_snapshot.json`), 'utf8')) as Snapshot;
const sqlOf = (engine: Engine, tag: string) => readFileSync(packageFile('drizzle', engine, `${tag}.sql`), 'utf8');

/** A value the database fills in when an INSERT names no value for the column. */
const filledIn = (c: Column) => c.default !== undefined || c.autoincrement === true || c.identity !== undefined || c.generated !== undefined || /serial$/i.test(c.type);

const uniqueNames = (t: Table) => [
  ...Object.values(t.indexes ?? {}).filter((i) => i.isUnique).map((i) => i.name),
  ...Object.values(t.uniqueConstraints ?? {}).map((u) => u.name),
];

/** What in a migration (snapshot before → after, and its SQL) would break the previous version still running on the schema. */
function destructiveChanges(before: Snapshot, after: Snapshot, sql: string): string[] {
  const found: string[] = [];
  for (const [key, old] of Object.entries(before.tables)) {
    const now = after.tables[key];
    if (!now) {
      found.push(`drops or renames table ${old.name}`);
      continue;
    }
    for (const [name, col] of Object.entries(old.columns)) {
      const next = now.columns[name];
      if (!next) found.push(`drops or renames column ${old.name}.${name}`);
      else if (next.type !== col.type) found.push(`changes the type of ${old.name}.${name} from ${col.type} to ${next.type}`);
      else if (next.notNull && !col.notNull) found.push(`makes ${old.name}.${name} NOT NULL`);
    }
    for (const [name, col] of Object.entries(now.columns)) {
      if (!old.columns[name] && col.notNull && !filledIn(col)) found.push(`adds NOT NULL column ${old.name}.${name} without a default`);
    }
    const kept = new Set(uniqueNames(now));
    for (const name of uniqueNames(old)) if (!kept.has(name)) found.push(`drops unique index ${name} of ${old.name} (the previous version's ON CONFLICT may name it)`);
  }

  const statements = sql.split('--> statement-breakpoint').map((s) => s.trim()).filter(Boolean);
  // SQLite's table rebuild (drizzle-kit's way to alter a column): __new_x replaces x, judged by the snapshots above.
  const rebuilt = new Set(statements.map((s) => /ALTER\s+TABLE\s+[`"]?__new_\w+[`"]?\s+RENAME\s+TO\s+[`"]?(\w+)/i.exec(s)?.[1]).filter((t) => t !== undefined));
  for (const s of statements) {
    const line = s.replace(/\s+/g, ' ').slice(0, 120);
    const dropped = /\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?[`"]?(?:\w+[`"]?\.[`"]?)?(\w+)/i.exec(s)?.[1];
    if (dropped && !rebuilt.has(dropped)) found.push(`SQL drops table ${dropped}: ${line}`);
    if (/\bDROP\s+COLUMN\b/i.test(s)) found.push(`SQL drops a column: ${line}`);
    if (/\bRENAME\s+COLUMN\b/i.test(s) || (/\bRENAME\s+TO\b/i.test(s) && !/ALTER\s+TABLE\s+[`"]?__new_/i.test(s))) found.push(`SQL renames: ${line}`);
    if (/\bSET\s+NOT\s+NULL\b/i.test(s)) found.push(`SQL makes a column NOT NULL: ${line}`);
    if (/\bSET\s+DATA\s+TYPE\b|\bALTER\s+COLUMN\s+\S+\s+TYPE\b/i.test(s)) found.push(`SQL changes a column's type: ${line}`);
    const added = /\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?[`"]?\w+[`"]?\s+(.*)$/is.exec(s)?.[1];
    if (added && /\bALTER\s+TABLE\b/i.test(s) && /\bNOT\s+NULL\b/i.test(added) && !/\bDEFAULT\b|\bGENERATED\b/i.test(added)) found.push(`SQL adds a NOT NULL column without a default: ${line}`);
  }
  return found;
}

describe.each(['sqlite', 'pg'] as const)('migrations of drizzle/%s after the baseline', (engine) => {
  const { entries } = journalOf(engine);
  const baseline = entries.find((e) => e.tag === BASELINE[engine]);

  it(`the baseline ${BASELINE[engine]} is one of its migrations`, () => {
    expect(baseline, `drizzle/${engine}/meta/_journal.json has no ${BASELINE[engine]}`).toBeDefined();
  });

  it('only add to the schema, so the previous version keeps running on it during a rolling upgrade', () => {
    const later = entries.filter((e) => e.idx > baseline!.idx);
    const found = later.flatMap((e) => destructiveChanges(snapshotOf(engine, e.idx - 1), snapshotOf(engine, e.idx), sqlOf(engine, e.tag)).map((why) => `${e.tag}: ${why}`));
    expect(found, 'split it into an expand release and a contract release (README "Upgrading several instances")').toEqual([]);
  });
});

describe('the additive check itself', () => {
  // The baseline's snapshot: committed migrations never change, so these cases keep meaning the same.
  const baselineIdx = journalOf('sqlite').entries.find((e) => e.tag === BASELINE.sqlite)!.idx;
  const base = (): Snapshot => structuredClone(snapshotOf('sqlite', baselineIdx));
  const changed = (edit: (s: Snapshot) => void, sql = '') => {
    const after = base();
    edit(after);
    return destructiveChanges(base(), after, sql);
  };
  const users = (s: Snapshot) => s.tables.users!;

  it('lets additive migrations through', () => {
    expect(changed(() => {})).toEqual([]);
    expect(
      changed(
        (s) => {
          users(s).columns.nickname = { name: 'nickname', type: 'text', notNull: false };
          users(s).columns.level = { name: 'level', type: 'integer', notNull: true, default: 0 };
          s.tables.webhooks = { name: 'webhooks', columns: { id: { name: 'id', type: 'integer', notNull: true, primaryKey: true } }, indexes: {} };
        },
        'ALTER TABLE `users` ADD `nickname` text;--> statement-breakpoint\nALTER TABLE `users` ADD `level` integer DEFAULT 0 NOT NULL;--> statement-breakpoint\n' +
          'CREATE TABLE `webhooks` (`id` integer PRIMARY KEY NOT NULL);',
      ),
    ).toEqual([]);
    // drizzle-kit's SQLite rebuild that keeps every column.
    expect(
      changed(() => {}, 'CREATE TABLE `__new_users` (`id` integer);--> statement-breakpoint\nINSERT INTO `__new_users`("id") SELECT "id" FROM `users`;--> statement-breakpoint\n' +
        'DROP TABLE `users`;--> statement-breakpoint\nALTER TABLE `__new_users` RENAME TO `users`;'),
    ).toEqual([]);
  });

  it('catches drops, renames, type changes, new NOT NULL constraints and dropped unique indexes', () => {
    expect(changed((s) => delete s.tables.robots, 'DROP TABLE `robots`;')).toEqual(['drops or renames table robots', 'SQL drops table robots: DROP TABLE `robots`;']);
    expect(changed((s) => delete users(s).columns.email, 'ALTER TABLE `users` DROP COLUMN `email`;')).toEqual([
      'drops or renames column users.email',
      'SQL drops a column: ALTER TABLE `users` DROP COLUMN `email`;',
    ]);
    expect(
      changed((s) => {
        users(s).columns.mail = { ...users(s).columns.email!, name: 'mail' };
        delete users(s).columns.email;
      }, 'ALTER TABLE `users` RENAME COLUMN `email` TO `mail`;'),
    ).toEqual(['drops or renames column users.email', 'SQL renames: ALTER TABLE `users` RENAME COLUMN `email` TO `mail`;']);
    expect(changed((s) => (users(s).columns.level = { name: 'level', type: 'integer', notNull: true }), 'ALTER TABLE `users` ADD `level` integer NOT NULL;')).toEqual([
      'adds NOT NULL column users.level without a default',
      'SQL adds a NOT NULL column without a default: ALTER TABLE `users` ADD `level` integer NOT NULL;',
    ]);
    expect(changed((s) => (users(s).columns.email!.notNull = true), 'ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;')).toEqual([
      'makes users.email NOT NULL',
      'SQL makes a column NOT NULL: ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;',
    ]);
    expect(changed((s) => (users(s).columns.email!.type = 'integer'))).toEqual(['changes the type of users.email from text to integer']);
    expect(changed((s) => delete users(s).indexes.users_username_key, 'DROP INDEX `users_username_key`;')).toEqual([
      "drops unique index users_username_key of users (the previous version's ON CONFLICT may name it)",
    ]);
    expect(changed(() => {}, 'ALTER TABLE "robots" RENAME TO "robot_accounts";')).toEqual(['SQL renames: ALTER TABLE "robots" RENAME TO "robot_accounts";']);
  });
});
