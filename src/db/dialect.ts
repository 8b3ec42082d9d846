import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Db } from './open';
import { engineOf } from './engine';

/** The few SQL fragments that SQLite and PostgreSQL spell differently: one function each, the handle says which. */

/** `a` equals `b`, two nulls counting as equal. */
export const sameValue = (db: Db, a: SQLWrapper, b: SQLWrapper): SQL =>
  engineOf(db) === 'postgres' ? sql`${a} IS NOT DISTINCT FROM ${b}` : sql`${a} IS ${b}`;

/** The larger of two values (SQLite's scalar max, PostgreSQL's GREATEST). */
export const larger = (db: Db, a: SQLWrapper, b: SQLWrapper): SQL => (engineOf(db) === 'postgres' ? sql`greatest(${a}, ${b})` : sql`max(${a}, ${b})`);

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Case-insensitive substring match with % and _ taken literally (SQLite's LIKE folds ASCII case; PostgreSQL needs ILIKE). */
export function contains(db: Db, column: SQLWrapper, q: string): SQL {
  const pattern = `%${escapeLike(q)}%`;
  return engineOf(db) === 'postgres' ? sql`${column} ILIKE ${pattern} ESCAPE '\\'` : sql`${column} LIKE ${pattern} ESCAPE '\\'`;
}

/**
 * A JSON text column that holds `"value"` somewhere (a digest in a list of children), matched as
 * text on both engines: pass `jsonListPattern(value)` as the pattern, a placeholder or a value.
 */
export const jsonListHas = (column: SQLWrapper, pattern: unknown): SQL => sql`${column} LIKE ${pattern} ESCAPE '\\'`;

/** `_` may occur in a digest and is a LIKE wildcard: escaped, with `%` and `\`. */
export const jsonListPattern = (value: string) => `%"${escapeLike(value)}"%`;

/** A condition no row meets. */
export const noRow = sql`1 = 0`;
