import { and, asc, count, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { contains } from '../db/dialect';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import { readPage, type PageRequest } from '../db/paged';
import { preparedPerConnection } from '../db/prepared';
import type { personalTokens, sessions, users } from '../db/schema';

/** The queries of users, their personal access tokens and browser sessions: the services' only SQL. */

export type User = typeof users.$inferSelect;
export type PersonalToken = typeof personalTokens.$inferSelect;
export type Session = typeof sessions.$inferSelect;

const userByName = preparedPerConnection('user_by_name', (db) => {
  const { users } = tablesOf(db);
  return db.select().from(users).where(eq(users.username, sql.placeholder('username')));
});
const userByKey = preparedPerConnection('user_by_key', (db) => {
  const { users } = tablesOf(db);
  return db.select().from(users).where(eq(users.usernameKey, sql.placeholder('key')));
});
const userById = preparedPerConnection('user_by_id', (db) => {
  const { users } = tablesOf(db);
  return db.select().from(users).where(eq(users.id, sql.placeholder('id')));
});

/** The accounts of a name (its exact spelling, and its key) with the lock times of two login throttle keys. */
const usersWithLocks = preparedPerConnection('users_with_locks', (db) => {
  const { loginThrottle, users } = tablesOf(db);
  const lockedUntil = (key: string) =>
    sql<number | null>`(select ${loginThrottle.lockedUntil} from ${loginThrottle} where ${loginThrottle.key} = ${sql.placeholder(key)})`;
  return db
    .select({ user: users, nameLockedUntil: lockedUntil('nameKey'), addressLockedUntil: lockedUntil('addressKey') })
    .from(users)
    .where(or(eq(users.username, sql.placeholder('username')), eq(users.usernameKey, sql.placeholder('key'))));
});

export interface UserWithLocks {
  user: User;
  /** The throttle rows' lock times (ms) of the keys asked for; null without a row. */
  nameLockedUntil: number | null;
  addressLockedUntil: number | null;
}

/**
 * userNamed, else userKeyed, with the lock times of two login throttle keys read in the same query;
 * undefined when the name has no account.
 */
export async function userWithLocks(db: Tx, username: string, key: string, locks: { nameKey: string; addressKey: string | null }): Promise<UserWithLocks | undefined> {
  const rows = await usersWithLocks(db).all({ username, key, nameKey: locks.nameKey, addressKey: locks.addressKey });
  const row = rows.find((r) => r.user.username === username) ?? rows.find((r) => r.user.usernameKey === key);
  return row && { user: row.user, nameLockedUntil: row.nameLockedUntil === null ? null : Number(row.nameLockedUntil), addressLockedUntil: row.addressLockedUntil === null ? null : Number(row.addressLockedUntil) };
}

export const userNamed = (db: Tx, username: string): Promise<User | undefined> => userByName(db).get({ username });
export const userKeyed = (db: Tx, key: string): Promise<User | undefined> => userByKey(db).get({ key });
export const userWithId = (db: Tx, id: number): Promise<User | undefined> => userById(db).get({ id });

export function pageOfUsers(db: Tx, opts: { q?: string } & PageRequest) {
  const { users } = tablesOf(db);
  const where = opts.q ? or(contains(db, users.username, opts.q), contains(db, users.email, opts.q)) : undefined;
  return readPage(db.select().from(users).where(where).orderBy(asc(users.username)), db.select({ n: count() }).from(users).where(where), opts);
}

export async function insertUser(tx: Tx, values: typeof users.$inferInsert): Promise<User> {
  const { users } = tablesOf(tx);
  return (await firstRow(tx.insert(users).values(values).returning()))!;
}

/** Changes a user's row; `revoke` also bumps the credential version, which ends every session, refresh token and cached login. */
export async function changeUser(tx: Tx, id: number, changes: Partial<typeof users.$inferInsert>, revoke = false): Promise<User> {
  const { users } = tablesOf(tx);
  return (await firstRow(
    tx
      .update(users)
      .set({ ...changes, ...(revoke ? { credentialVersion: sql`${users.credentialVersion} + 1` } : {}) })
      .where(eq(users.id, id))
      .returning(),
  ))!;
}

export async function deleteUserRow(tx: Tx, id: number): Promise<void> {
  const { users } = tablesOf(tx);
  await tx.delete(users).where(eq(users.id, id));
}

export async function userCount(db: Tx): Promise<number> {
  const { users } = tablesOf(db);
  return (await firstRow(db.select({ n: count() }).from(users)))!.n;
}

export function findPersonalToken(db: Tx, userId: number, name: string): Promise<PersonalToken | undefined> {
  const { personalTokens } = tablesOf(db);
  return firstRow(db.select().from(personalTokens).where(and(eq(personalTokens.userId, userId), eq(personalTokens.name, name))));
}

export function personalTokenByHash(db: Tx, secretHash: string): Promise<PersonalToken | undefined> {
  const { personalTokens } = tablesOf(db);
  return firstRow(db.select().from(personalTokens).where(eq(personalTokens.secretHash, secretHash)));
}

export function personalTokenRows(db: Tx, userId: number): Promise<PersonalToken[]> {
  const { personalTokens } = tablesOf(db);
  return db.select().from(personalTokens).where(eq(personalTokens.userId, userId)).orderBy(asc(personalTokens.name));
}

export async function insertPersonalToken(tx: Tx, values: typeof personalTokens.$inferInsert): Promise<PersonalToken> {
  const { personalTokens } = tablesOf(tx);
  return (await firstRow(tx.insert(personalTokens).values(values).returning()))!;
}

/** Removes a token; whether there was one. */
export async function deletePersonalTokenRow(tx: Tx, userId: number, name: string): Promise<boolean> {
  const { personalTokens } = tablesOf(tx);
  return rowsChanged(await tx.delete(personalTokens).where(and(eq(personalTokens.userId, userId), eq(personalTokens.name, name)))) > 0;
}

export async function touchPersonalToken(db: Tx, id: number, at: string): Promise<void> {
  const { personalTokens } = tablesOf(db);
  await db.update(personalTokens).set({ lastUsedAt: at }).where(eq(personalTokens.id, id));
}

export function sessionByHash(db: Tx, idHash: string): Promise<Session | undefined> {
  const { sessions } = tablesOf(db);
  return firstRow(db.select().from(sessions).where(eq(sessions.idHash, idHash)));
}

export async function insertSession(tx: Tx, values: typeof sessions.$inferInsert): Promise<void> {
  const { sessions } = tablesOf(tx);
  await tx.insert(sessions).values(values);
}

export async function deleteExpiredSessions(tx: Tx, before: string): Promise<void> {
  const { sessions } = tablesOf(tx);
  await tx.delete(sessions).where(lt(sessions.expiresAt, before));
}

/** Removes a session; whether there was one. */
export async function deleteSessionRow(tx: Tx, idHash: string): Promise<boolean> {
  const { sessions } = tablesOf(tx);
  return rowsChanged(await tx.delete(sessions).where(eq(sessions.idHash, idHash))) > 0;
}

export async function deleteSessionsOf(tx: Tx, userId: number): Promise<void> {
  const { sessions } = tablesOf(tx);
  await tx.delete(sessions).where(eq(sessions.userId, userId));
}

export async function groupNamesOf(db: Tx, userId: number): Promise<string[]> {
  const { userGroups } = tablesOf(db);
  return (await db.select({ name: userGroups.groupName }).from(userGroups).where(eq(userGroups.userId, userId))).map((r) => r.name).sort();
}

/** Replaces the directory groups a user is in. */
export async function replaceGroupsOf(tx: Tx, userId: number, groups: string[]): Promise<void> {
  const { userGroups } = tablesOf(tx);
  await tx.delete(userGroups).where(eq(userGroups.userId, userId));
  for (const name of groups) await tx.insert(userGroups).values({ userId, groupName: name }).onConflictDoNothing();
}

/** Accounts whose name is, in any case, one of `names` (lower case). */
export function usersNamedAnyCase(db: Tx, names: string[]): Promise<{ username: string }[]> {
  const { users } = tablesOf(db);
  return db.select({ username: users.username }).from(users).where(inArray(sql`lower(${users.username})`, names));
}

/** Accounts made before names had a canonical key, oldest first. */
export function usersWithoutKey(db: Tx): Promise<{ id: number; username: string }[]> {
  const { users } = tablesOf(db);
  return db.select({ id: users.id, username: users.username }).from(users).where(isNull(users.usernameKey)).orderBy(asc(users.id));
}
