import { is, SQL, Table, getTableName } from 'drizzle-orm';
import { getTableConfig as pgTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as pgSchema from '../../src/db/schema-pg';
import * as sqliteSchema from '../../src/db/schema';

/** The two engines' schemas cannot drift: same row types (checked by tsc), same tables, keys and indexes. */

type Rows<S, Mode extends '$inferSelect' | '$inferInsert'> = {
  [K in keyof S as S[K] extends Table ? K : never]: S[K] extends Table ? S[K][Mode] : never;
};

// npm run lint (tsc) fails when a row type differs; vitest only runs the assertions below.
expectTypeOf<Rows<typeof pgSchema, '$inferSelect'>>().toEqualTypeOf<Rows<typeof sqliteSchema, '$inferSelect'>>();
expectTypeOf<Rows<typeof pgSchema, '$inferInsert'>>().toEqualTypeOf<Rows<typeof sqliteSchema, '$inferInsert'>>();

type AnyConfig = ReturnType<typeof pgTableConfig> | ReturnType<typeof sqliteTableConfig>;

/** What both dialects must agree on, in plain values. */
function shape(config: AnyConfig) {
  const defaultOf = (d: unknown) => (is(d, SQL) ? 'now' : d);
  return {
    name: config.name,
    columns: config.columns.map((c) => ({
      name: c.name,
      dataType: c.dataType,
      notNull: c.notNull,
      primary: c.primary,
      unique: c.isUnique,
      enumValues: c.enumValues,
      default: c.hasDefault ? defaultOf(c.default) : undefined,
      // Identity columns (pg) and AUTOINCREMENT keys (SQLite) both number rows themselves.
      generatesKey: c.primary && c.dataType === 'number' && (('generatedIdentity' in c && c.generatedIdentity !== undefined) || ('autoIncrement' in c && c.autoIncrement === true)),
    })),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    indexes: config.indexes
      .map((i) => ({
        name: i.config.name,
        unique: i.config.unique,
        columns: i.config.columns.map((c) => (c as { name: string }).name),
        partial: i.config.where !== undefined,
      }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
    foreignKeys: config.foreignKeys.map((fk) => {
      const ref = fk.reference();
      return { columns: ref.columns.map((c) => c.name), table: getTableName(ref.foreignTable), foreignColumns: ref.foreignColumns.map((c) => c.name), onDelete: fk.onDelete };
    }),
  };
}

describe('SQLite and PostgreSQL schemas', () => {
  const sqliteTables = Object.entries(sqliteSchema).filter(([, t]) => is(t, SQLiteTable));
  const pgTables = Object.entries(pgSchema).filter(([, t]) => is(t, PgTable));

  it('export the same tables', () => {
    expect(pgTables.map(([k]) => k).sort()).toEqual(sqliteTables.map(([k]) => k).sort());
    expect(sqliteTables.length).toBeGreaterThan(10);
  });

  it.each(sqliteTables.map(([k]) => k))('%s: same columns, defaults, keys, indexes and foreign keys', (key) => {
    const onSqlite = shape(sqliteTableConfig(sqliteSchema[key as keyof typeof sqliteSchema] as SQLiteTable));
    const onPg = shape(pgTableConfig(pgSchema[key as keyof typeof pgSchema] as PgTable));
    expect(onPg).toEqual(onSqlite);
  });
});
