import { and, asc, count, eq, exists, or, sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { preparedPerConnection } from '../db/prepared';
import { groupMembers, members, projects, repositories, robots, userGroups, users } from '../db/schema';
import { contains } from '../db/search';
import type { Role } from './roles';

/** The queries of projects, their members and group roles, and robot accounts: the services' only SQL. */

export type Project = typeof projects.$inferSelect;
export type Robot = typeof robots.$inferSelect;

const projectByName = preparedPerConnection((db) =>
  db.select().from(projects).where(eq(projects.name, sql.placeholder('name'))).prepare(),
);
const memberRole = preparedPerConnection((db) =>
  db
    .select({ role: members.role })
    .from(members)
    .where(and(eq(members.projectId, sql.placeholder('projectId')), eq(members.userId, sql.placeholder('userId'))))
    .prepare(),
);
const groupRoles = preparedPerConnection((db) =>
  db
    .select({ role: groupMembers.role })
    .from(groupMembers)
    .innerJoin(userGroups, eq(userGroups.groupName, groupMembers.groupName))
    .where(and(eq(groupMembers.projectId, sql.placeholder('projectId')), eq(userGroups.userId, sql.placeholder('userId'))))
    .prepare(),
);

export const findProject = (db: Tx, name: string): Promise<Project | undefined> => projectByName(db).get({ name });

export const ownRole = async (db: Tx, projectId: number, userId: number): Promise<Role | null> => (await memberRole(db).get({ projectId, userId }))?.role ?? null;

export const groupRolesOf = async (db: Tx, projectId: number, userId: number): Promise<Role[]> =>
  (await groupRoles(db).all({ projectId, userId })).map((r) => r.role);

/** SQL: the user is a member of `projects.id`, in person or through one of their groups. */
export function memberOfProject(db: Tx, userId: number): SQL {
  const direct = exists(
    db
      .select({ one: members.projectId })
      .from(members)
      .where(and(eq(members.projectId, projects.id), eq(members.userId, userId))),
  );
  const viaGroup = exists(
    db
      .select({ one: groupMembers.projectId })
      .from(groupMembers)
      .innerJoin(userGroups, eq(userGroups.groupName, groupMembers.groupName))
      .where(and(eq(groupMembers.projectId, projects.id), eq(userGroups.userId, userId))),
  );
  return or(direct, viaGroup)!;
}

/** Which projects a listing shows: all, one project, public ones, or public ones and the user's own. */
export type ProjectScope = { all: true } | { only: number } | { publicOr: number | null };

function scopeCondition(db: Tx, scope: ProjectScope): SQL | undefined {
  if ('all' in scope) return undefined;
  if ('only' in scope) return eq(projects.id, scope.only);
  return scope.publicOr === null ? eq(projects.public, true) : or(eq(projects.public, true), memberOfProject(db, scope.publicOr));
}

export function pageOfProjects(db: Tx, scope: ProjectScope, opts: { q?: string } & PageRequest) {
  const where = and(opts.q ? contains(projects.name, opts.q) : undefined, scopeCondition(db, scope));
  return readPage(db.select().from(projects).where(where).orderBy(asc(projects.name)), db.select({ n: count() }).from(projects).where(where), opts);
}

export const insertProject = async (tx: Tx, values: typeof projects.$inferInsert): Promise<Project> =>
  (await tx.insert(projects).values(values).returning().get())!;

export const setProjectPublic = async (tx: Tx, id: number, isPublic: boolean, at: string): Promise<Project> =>
  (await tx.update(projects).set({ public: isPublic, updatedAt: at }).where(eq(projects.id, id)).returning().get())!;

export const deleteProjectRow = async (tx: Tx, id: number): Promise<void> => {
  await tx.delete(projects).where(eq(projects.id, id)).run();
};

export const repositoryCount = async (db: Tx, projectId: number): Promise<number> =>
  (await db.select({ n: count() }).from(repositories).where(eq(repositories.projectId, projectId)).get())!.n;

export const memberRows = (db: Tx, projectId: number) =>
  db
    .select({ username: users.username, role: members.role, createdAt: members.createdAt })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(eq(members.projectId, projectId))
    .orderBy(asc(users.username))
    .all();

export const upsertMember = async (tx: Tx, projectId: number, userId: number, role: Role): Promise<void> => {
  await tx
    .insert(members)
    .values({ projectId, userId, role })
    .onConflictDoUpdate({ target: [members.projectId, members.userId], set: { role } })
    .run();
};

/** Removes a membership; whether there was one. */
export const deleteMember = async (tx: Tx, projectId: number, userId: number): Promise<boolean> =>
  (await tx.delete(members).where(and(eq(members.projectId, projectId), eq(members.userId, userId))).run()).changes > 0;

export const projectAdminMembers = (tx: Tx, projectId: number) =>
  tx
    .select({ userId: members.userId, username: users.username })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(and(eq(members.projectId, projectId), eq(members.role, 'projectAdmin')))
    .all();

export const projectAdminGroupCount = async (tx: Tx, projectId: number): Promise<number> =>
  (await tx
    .select({ n: count() })
    .from(groupMembers)
    .where(and(eq(groupMembers.projectId, projectId), eq(groupMembers.role, 'projectAdmin')))
    .get())!.n;

export const groupRoleRows = (db: Tx, projectId: number) =>
  db
    .select({ group: groupMembers.groupName, role: groupMembers.role })
    .from(groupMembers)
    .where(eq(groupMembers.projectId, projectId))
    .orderBy(asc(groupMembers.groupName))
    .all();

export const upsertGroupRole = async (tx: Tx, projectId: number, group: string, role: Role): Promise<void> => {
  await tx
    .insert(groupMembers)
    .values({ projectId, groupName: group, role })
    .onConflictDoUpdate({ target: [groupMembers.projectId, groupMembers.groupName], set: { role } })
    .run();
};

/** Removes a group's role; whether it had one. */
export const deleteGroupRole = async (tx: Tx, projectId: number, group: string): Promise<boolean> =>
  (await tx.delete(groupMembers).where(and(eq(groupMembers.projectId, projectId), eq(groupMembers.groupName, group))).run()).changes > 0;

export const findRobot = (db: Tx, projectId: number, name: string): Promise<Robot | undefined> =>
  db.select().from(robots).where(and(eq(robots.projectId, projectId), eq(robots.name, name))).get();

export const robotRows = (db: Tx, projectId: number) => db.select().from(robots).where(eq(robots.projectId, projectId)).orderBy(asc(robots.name)).all();

export const insertRobot = async (tx: Tx, values: typeof robots.$inferInsert): Promise<Robot> => (await tx.insert(robots).values(values).returning().get())!;

export const setRobotDisabled = async (tx: Tx, id: number, disabled: boolean): Promise<Robot> =>
  (await tx.update(robots).set({ disabled }).where(eq(robots.id, id)).returning().get())!;

export const deleteRobotRow = async (tx: Tx, id: number): Promise<void> => {
  await tx.delete(robots).where(eq(robots.id, id)).run();
};

export const touchRobot = async (db: Tx, id: number, at: string): Promise<void> => {
  await db.update(robots).set({ lastUsedAt: at }).where(eq(robots.id, id)).run();
};

/** The projects a user is a member of (in person or through a group), with their creation times. */
export const projectsOfMember = (db: Tx, userId: number) =>
  db.select({ name: projects.name, createdAt: projects.createdAt }).from(projects).where(memberOfProject(db, userId)).all();

export const projectWithId = (db: Tx, id: number): Promise<Project | undefined> => db.select().from(projects).where(eq(projects.id, id)).get();

/** The SQL condition on `projects` of a scope; exported for the stores that list what projects hold. */
export const projectScopeCondition = scopeCondition;
