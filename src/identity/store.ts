import { and, asc, count, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { preparedPerConnection } from '../db/prepared';
import { contains } from '../db/search';
import { personalTokens, sessions, userGroups, users } from '../db/schema';

/** The queries of users, their personal access tokens and browser sessions: the services' only SQL. */

export type User = typeof users.$inferSelect;
export type PersonalToken = typeof personalTokens.$inferSelect;
export type Session = typeof sessions.$inferSelect;

const userByName = preparedPerConnection((db) =>
  db.select().from(users).where(eq(users.username, sql.placeholder('username'))).prepare(),
);
const userByKey = preparedPerConnection((db) =>
  db.select().from(users).where(eq(users.usernameKey, sql.placeholder('key'))).prepare(),
);
const userById = preparedPerConnection((db) => db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare());

export const userNamed = (db: Tx, username: string): Promise<User | undefined> => userByName(db).get({ username });
export const userKeyed = (db: Tx, key: string): Promise<User | undefined> => userByKey(db).get({ key });
export const userWithId = (db: Tx, id: number): Promise<User | undefined> => userById(db).get({ id });

export function pageOfUsers(db: Tx, opts: { q?: string } & PageRequest) {
  const where = opts.q ? or(contains(users.username, opts.q), contains(users.email, opts.q)) : undefined;
  return readPage(db.select().from(users).where(where).orderBy(asc(users.username)), db.select({ n: count() }).from(users).where(where), opts);
}

export const insertUser = async (tx: Tx, values: typeof users.$inferInsert): Promise<User> => (await tx.insert(users).values(values).returning().get())!;

/** Changes a user's row; `revoke` also bumps the credential version, which ends every session, refresh token and cached login. */
export const changeUser = async (tx: Tx, id: number, changes: Partial<typeof users.$inferInsert>, revoke = false): Promise<User> =>
  (await tx
    .update(users)
    .set({ ...changes, ...(revoke ? { credentialVersion: sql`${users.credentialVersion} + 1` } : {}) })
    .where(eq(users.id, id))
    .returning()
    .get())!;

export const deleteUserRow = async (tx: Tx, id: number): Promise<void> => {
  await tx.delete(users).where(eq(users.id, id)).run();
};

export const userCount = async (db: Tx): Promise<number> => (await db.select({ n: count() }).from(users).get())!.n;

export const findPersonalToken = (db: Tx, userId: number, name: string): Promise<PersonalToken | undefined> =>
  db.select().from(personalTokens).where(and(eq(personalTokens.userId, userId), eq(personalTokens.name, name))).get();

export const personalTokenByHash = (db: Tx, secretHash: string): Promise<PersonalToken | undefined> =>
  db.select().from(personalTokens).where(eq(personalTokens.secretHash, secretHash)).get();

export const personalTokenRows = (db: Tx, userId: number) =>
  db.select().from(personalTokens).where(eq(personalTokens.userId, userId)).orderBy(asc(personalTokens.name)).all();

export const insertPersonalToken = async (tx: Tx, values: typeof personalTokens.$inferInsert): Promise<PersonalToken> =>
  (await tx.insert(personalTokens).values(values).returning().get())!;

/** Removes a token; whether there was one. */
export const deletePersonalTokenRow = async (tx: Tx, userId: number, name: string): Promise<boolean> =>
  (await tx.delete(personalTokens).where(and(eq(personalTokens.userId, userId), eq(personalTokens.name, name))).run()).changes > 0;

export const touchPersonalToken = async (db: Tx, id: number, at: string): Promise<void> => {
  await db.update(personalTokens).set({ lastUsedAt: at }).where(eq(personalTokens.id, id)).run();
};

export const sessionByHash = (db: Tx, idHash: string): Promise<Session | undefined> => db.select().from(sessions).where(eq(sessions.idHash, idHash)).get();

export const insertSession = async (tx: Tx, values: typeof sessions.$inferInsert): Promise<void> => {
  await tx.insert(sessions).values(values).run();
};

export const deleteExpiredSessions = async (tx: Tx, before: string): Promise<void> => {
  await tx.delete(sessions).where(lt(sessions.expiresAt, before)).run();
};

/** Removes a session; whether there was one. */
export const deleteSessionRow = async (tx: Tx, idHash: string): Promise<boolean> => (await tx.delete(sessions).where(eq(sessions.idHash, idHash)).run()).changes > 0;

export const deleteSessionsOf = async (tx: Tx, userId: number): Promise<void> => {
  await tx.delete(sessions).where(eq(sessions.userId, userId)).run();
};

export const groupNamesOf = async (db: Tx, userId: number): Promise<string[]> =>
  (await db.select({ name: userGroups.groupName }).from(userGroups).where(eq(userGroups.userId, userId)).all()).map((r) => r.name).sort();

/** Replaces the directory groups a user is in. */
export const replaceGroupsOf = async (tx: Tx, userId: number, groups: string[]): Promise<void> => {
  await tx.delete(userGroups).where(eq(userGroups.userId, userId)).run();
  for (const name of groups) await tx.insert(userGroups).values({ userId, groupName: name }).onConflictDoNothing().run();
};

/** Accounts whose name is, in any case, one of `names` (lower case). */
export const usersNamedAnyCase = (db: Tx, names: string[]) =>
  db.select({ username: users.username }).from(users).where(inArray(sql`lower(${users.username})`, names)).all();

/** Accounts made before names had a canonical key, oldest first. */
export const usersWithoutKey = (db: Tx) => db.select({ id: users.id, username: users.username }).from(users).where(isNull(users.usernameKey)).orderBy(asc(users.id)).all();
