import { count, getTableName, is, sql } from 'drizzle-orm';
import { getTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { getTableConfig as getPgTableConfig, PgTable } from 'drizzle-orm/pg-core';
import type { OpenDb } from './open';
import type { OpenPostgres } from './pg';
import * as sqliteSchema from './schema';
import * as pgSchema from './schema-pg';
import { transaction } from './transaction';

export interface CopiedTable {
  table: string;
  rows: number;
}

/** Rows are read and written this many at a time, so a large audit log never sits in memory whole. */
const BATCH = 500;

/** The target refuses the copy: it already holds Wharf's data (or anything in Wharf's tables). */
export class TargetNotEmptyError extends Error {}

/** Tables whose one row the migrations create (storage_state): not a sign of data in the target. */
const SINGLE_ROW_TABLES = new Set(['storage_state']);

/** Wharf's tables by name, both engines, in an order where every table comes after those it references. */
function tablesInOrder(): { name: string; sqlite: SQLiteTable; pg: PgTable }[] {
  const sqliteTables = new Map<string, SQLiteTable>();
  for (const value of Object.values(sqliteSchema)) if (is(value, SQLiteTable)) sqliteTables.set(getTableName(value), value);
  const pgTables = new Map<string, PgTable>();
  for (const value of Object.values(pgSchema)) if (is(value, PgTable)) pgTables.set(getTableName(value), value);
  const ordered: string[] = [];
  const visit = (name: string, path: Set<string>) => {
    if (ordered.includes(name) || path.has(name)) return;
    path.add(name);
    for (const fk of getTableConfig(sqliteTables.get(name)!).foreignKeys) {
      const target = getTableName(fk.reference().foreignTable);
      if (target !== name) visit(target, path);
    }
    ordered.push(name);
  };
  for (const name of [...sqliteTables.keys()].sort()) visit(name, new Set());
  return ordered.map((name) => {
    const pg = pgTables.get(name);
    if (!pg) throw new Error(`table ${name} has no PostgreSQL twin in schema-pg.ts`);
    return { name, sqlite: sqliteTables.get(name)!, pg };
  });
}

/**
 * Copies every row of a SQLite data directory's database into an empty PostgreSQL database that
 * has Wharf's migrations, in one PostgreSQL transaction (all or nothing), then moves each id
 * sequence past the copied ids and checks that every table holds as many rows as the source. The
 * source is read inside one transaction of its own: a consistent snapshot, with writers held off.
 */
export async function copyToPostgres(source: OpenDb, target: OpenPostgres): Promise<CopiedTable[]> {
  const tables = tablesInOrder();
  for (const t of tables) {
    if (SINGLE_ROW_TABLES.has(t.name)) continue;
    const [{ n }] = (await target.db.select({ n: count() }).from(t.pg)) as [{ n: number }];
    if (n > 0) throw new TargetNotEmptyError(`the target database is not empty: table ${t.name} has ${n} rows; copy into a new, empty database`);
  }
  return transaction(source.db, async (src) =>
    target.db.transaction(async (dst) => {
      const copied: CopiedTable[] = [];
      for (const t of tables) {
        // The migration made their one row; the source's replaces it.
        if (SINGLE_ROW_TABLES.has(t.name)) await dst.delete(t.pg);
        let rows = 0;
        for (let offset = 0; ; offset += BATCH) {
          const batch = await src.select().from(t.sqlite).orderBy(sql`rowid`).limit(BATCH).offset(offset).all();
          if (batch.length === 0) break;
          await dst.insert(t.pg).values(batch as never[]);
          rows += batch.length;
          if (batch.length < BATCH) break;
        }
        // Identity ids continue after the copied ones; tables keyed by text (event ids) have no sequence.
        const identity = getPgTableConfig(t.pg).columns.find((c) => c.name === 'id' && c.dataType === 'number');
        if (identity)
          await dst.execute(
            sql.raw(`SELECT setval(pg_get_serial_sequence('"${t.name}"', 'id'), COALESCE((SELECT max(id) FROM "${t.name}"), 1), (SELECT max(id) FROM "${t.name}") IS NOT NULL)`),
          );
        const [{ n: inTarget }] = (await dst.select({ n: count() }).from(t.pg)) as [{ n: number }];
        const inSource = (await src.select({ n: count() }).from(t.sqlite).get())!.n;
        if (inTarget !== inSource || rows !== inSource)
          throw new Error(`table ${t.name}: ${inSource} rows in SQLite, ${inTarget} in PostgreSQL after the copy; nothing was kept`);
        copied.push({ table: t.name, rows });
      }
      // The triggers of migration list_count_triggers added every copied row to counts that were copied too.
      await dst.execute(sql`UPDATE repositories SET tag_count = (SELECT count(*) FROM tags WHERE tags.repository_id = repositories.id)`);
      await dst.execute(sql`UPDATE projects SET repository_count = (SELECT count(*) FROM repositories WHERE repositories.project_id = projects.id)`);
      return copied;
    }),
  );
}
