import { and, asc, count, eq, exists, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { contains } from '../db/dialect';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import { readPage, type PageRequest } from '../db/paged';
import { preparedPerConnection } from '../db/prepared';
import type { projects, robots, systemRobots } from '../db/schema';
import type { Role } from './roles';

/** The queries of projects, their members and group roles, and robot accounts: the services' only SQL. */

export type Project = typeof projects.$inferSelect;
export type Robot = typeof robots.$inferSelect;
export type SystemRobot = typeof systemRobots.$inferSelect;

const projectByName = preparedPerConnection('project_by_name', (db) => {
  const { projects } = tablesOf(db);
  return db.select().from(projects).where(eq(projects.name, sql.placeholder('name')));
});
const memberRole = preparedPerConnection('member_role', (db) => {
  const { members } = tablesOf(db);
  return db
    .select({ role: members.role })
    .from(members)
    .where(and(eq(members.projectId, sql.placeholder('projectId')), eq(members.userId, sql.placeholder('userId'))));
});
const groupRoles = preparedPerConnection('group_roles', (db) => {
  const { groupMembers, userGroups } = tablesOf(db);
  return db
    .select({ role: groupMembers.role })
    .from(groupMembers)
    .innerJoin(userGroups, eq(userGroups.groupName, groupMembers.groupName))
    .where(and(eq(groupMembers.projectId, sql.placeholder('projectId')), eq(userGroups.userId, sql.placeholder('userId'))));
});

/** A project by name with a user's own role and group roles in it: one row per group role, at least one. */
const projectWithRoles = preparedPerConnection('project_with_roles', (db) => {
  const { groupMembers, members, projects, userGroups } = tablesOf(db);
  const viaUsersGroup = exists(
    db
      .select({ one: userGroups.userId })
      .from(userGroups)
      .where(and(eq(userGroups.groupName, groupMembers.groupName), eq(userGroups.userId, sql.placeholder('userId')))),
  );
  return db
    .select({ project: projects, own: members.role, group: groupMembers.role })
    .from(projects)
    .leftJoin(members, and(eq(members.projectId, projects.id), eq(members.userId, sql.placeholder('userId'))))
    .leftJoin(groupMembers, and(eq(groupMembers.projectId, projects.id), viaUsersGroup))
    .where(eq(projects.name, sql.placeholder('name')));
});

export const findProject = (db: Tx, name: string): Promise<Project | undefined> => projectByName(db).get({ name });

/** A project with a user's own role and the roles of their groups in it, in one query; undefined when there is no such project. */
export async function findProjectWithRoles(db: Tx, name: string, userId: number): Promise<{ project: Project; own: Role | null; groups: Role[] } | undefined> {
  const rows = await projectWithRoles(db).all({ name, userId });
  const first = rows[0];
  if (!first) return undefined;
  return { project: first.project, own: first.own, groups: rows.flatMap((r) => (r.group ? [r.group] : [])) };
}

export const ownRole = async (db: Tx, projectId: number, userId: number): Promise<Role | null> => (await memberRole(db).get({ projectId, userId }))?.role ?? null;

export const groupRolesOf = async (db: Tx, projectId: number, userId: number): Promise<Role[]> =>
  (await groupRoles(db).all({ projectId, userId })).map((r) => r.role);

/** SQL: the user is a member of `projects.id`, in person or through one of their groups. */
export function memberOfProject(db: Tx, userId: number): SQL {
  const { groupMembers, members, projects, userGroups } = tablesOf(db);
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

/** Which projects a listing shows: all, one project, these by name, public ones, or public ones and the user's own. */
export type ProjectScope = { all: true } | { only: number } | { named: string[] } | { publicOr: number | null };

function scopeCondition(db: Tx, scope: ProjectScope): SQL | undefined {
  const { projects } = tablesOf(db);
  if ('all' in scope) return undefined;
  if ('only' in scope) return eq(projects.id, scope.only);
  if ('named' in scope) return inArray(projects.name, scope.named);
  return scope.publicOr === null ? eq(projects.public, true) : or(eq(projects.public, true), memberOfProject(db, scope.publicOr));
}

export function pageOfProjects(db: Tx, scope: ProjectScope, opts: { q?: string } & PageRequest) {
  const { projects } = tablesOf(db);
  const where = and(opts.q ? contains(db, projects.name, opts.q) : undefined, scopeCondition(db, scope));
  return readPage(db.select().from(projects).where(where).orderBy(asc(projects.name)), db.select({ n: count() }).from(projects).where(where), opts);
}

export async function insertProject(tx: Tx, values: typeof projects.$inferInsert): Promise<Project> {
  const { projects } = tablesOf(tx);
  return (await firstRow(tx.insert(projects).values(values).returning()))!;
}

export async function setProjectPublic(tx: Tx, id: number, isPublic: boolean, at: string): Promise<Project> {
  const { projects } = tablesOf(tx);
  return (await firstRow(tx.update(projects).set({ public: isPublic, updatedAt: at }).where(eq(projects.id, id)).returning()))!;
}

export async function deleteProjectRow(tx: Tx, id: number): Promise<void> {
  const { projects } = tablesOf(tx);
  await tx.delete(projects).where(eq(projects.id, id));
}

export async function repositoryCount(db: Tx, projectId: number): Promise<number> {
  const { repositories } = tablesOf(db);
  return (await firstRow(db.select({ n: count() }).from(repositories).where(eq(repositories.projectId, projectId))))!.n;
}

export function memberRows(db: Tx, projectId: number): Promise<{ username: string; role: Role; createdAt: string }[]> {
  const { members, users } = tablesOf(db);
  return db
    .select({ username: users.username, role: members.role, createdAt: members.createdAt })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(eq(members.projectId, projectId))
    .orderBy(asc(users.username));
}

export async function upsertMember(tx: Tx, projectId: number, userId: number, role: Role): Promise<void> {
  const { members } = tablesOf(tx);
  await tx
    .insert(members)
    .values({ projectId, userId, role })
    .onConflictDoUpdate({ target: [members.projectId, members.userId], set: { role } });
}

/** Removes a membership; whether there was one. */
export async function deleteMember(tx: Tx, projectId: number, userId: number): Promise<boolean> {
  const { members } = tablesOf(tx);
  return rowsChanged(await tx.delete(members).where(and(eq(members.projectId, projectId), eq(members.userId, userId)))) > 0;
}

export function projectAdminMembers(tx: Tx, projectId: number): Promise<{ userId: number; username: string }[]> {
  const { members, users } = tablesOf(tx);
  return tx
    .select({ userId: members.userId, username: users.username })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(and(eq(members.projectId, projectId), eq(members.role, 'projectAdmin')));
}

export async function projectAdminGroupCount(tx: Tx, projectId: number): Promise<number> {
  const { groupMembers } = tablesOf(tx);
  return (await firstRow(
    tx
      .select({ n: count() })
      .from(groupMembers)
      .where(and(eq(groupMembers.projectId, projectId), eq(groupMembers.role, 'projectAdmin'))),
  ))!.n;
}

export function groupRoleRows(db: Tx, projectId: number): Promise<{ group: string; role: Role }[]> {
  const { groupMembers } = tablesOf(db);
  return db
    .select({ group: groupMembers.groupName, role: groupMembers.role })
    .from(groupMembers)
    .where(eq(groupMembers.projectId, projectId))
    .orderBy(asc(groupMembers.groupName));
}

export async function upsertGroupRole(tx: Tx, projectId: number, group: string, role: Role): Promise<void> {
  const { groupMembers } = tablesOf(tx);
  await tx
    .insert(groupMembers)
    .values({ projectId, groupName: group, role })
    .onConflictDoUpdate({ target: [groupMembers.projectId, groupMembers.groupName], set: { role } });
}

/** Removes a group's role; whether it had one. */
export async function deleteGroupRole(tx: Tx, projectId: number, group: string): Promise<boolean> {
  const { groupMembers } = tablesOf(tx);
  return rowsChanged(await tx.delete(groupMembers).where(and(eq(groupMembers.projectId, projectId), eq(groupMembers.groupName, group)))) > 0;
}

export function findRobot(db: Tx, projectId: number, name: string): Promise<Robot | undefined> {
  const { robots } = tablesOf(db);
  return firstRow(db.select().from(robots).where(and(eq(robots.projectId, projectId), eq(robots.name, name))));
}

export function robotRows(db: Tx, projectId: number): Promise<Robot[]> {
  const { robots } = tablesOf(db);
  return db.select().from(robots).where(eq(robots.projectId, projectId)).orderBy(asc(robots.name));
}

export async function insertRobot(tx: Tx, values: typeof robots.$inferInsert): Promise<Robot> {
  const { robots } = tablesOf(tx);
  return (await firstRow(tx.insert(robots).values(values).returning()))!;
}

export async function setRobotDisabled(tx: Tx, id: number, disabled: boolean): Promise<Robot> {
  const { robots } = tablesOf(tx);
  return (await firstRow(tx.update(robots).set({ disabled }).where(eq(robots.id, id)).returning()))!;
}

export async function deleteRobotRow(tx: Tx, id: number): Promise<void> {
  const { robots } = tablesOf(tx);
  await tx.delete(robots).where(eq(robots.id, id));
}

export async function touchRobot(db: Tx, id: number, at: string): Promise<void> {
  const { robots } = tablesOf(db);
  await db.update(robots).set({ lastUsedAt: at }).where(eq(robots.id, id));
}

export function findSystemRobot(db: Tx, name: string): Promise<SystemRobot | undefined> {
  const { systemRobots } = tablesOf(db);
  return firstRow(db.select().from(systemRobots).where(eq(systemRobots.name, name)));
}

export function systemRobotRows(db: Tx): Promise<SystemRobot[]> {
  const { systemRobots } = tablesOf(db);
  return db.select().from(systemRobots).orderBy(asc(systemRobots.name));
}

export async function insertSystemRobot(tx: Tx, values: typeof systemRobots.$inferInsert): Promise<SystemRobot> {
  const { systemRobots } = tablesOf(tx);
  return (await firstRow(tx.insert(systemRobots).values(values).returning()))!;
}

export async function changeSystemRobot(
  tx: Tx,
  id: number,
  values: Partial<Pick<SystemRobot, 'disabled' | 'projects' | 'permissions'>>,
): Promise<SystemRobot> {
  const { systemRobots } = tablesOf(tx);
  return (await firstRow(tx.update(systemRobots).set(values).where(eq(systemRobots.id, id)).returning()))!;
}

/** Sets the project list only if it is still `before`; false when another change came first. */
export async function replaceSystemRobotProjects(tx: Tx, id: number, before: string, after: string): Promise<boolean> {
  const { systemRobots } = tablesOf(tx);
  return rowsChanged(await tx.update(systemRobots).set({ projects: after }).where(and(eq(systemRobots.id, id), eq(systemRobots.projects, before)))) > 0;
}

export async function deleteSystemRobotRow(tx: Tx, id: number): Promise<void> {
  const { systemRobots } = tablesOf(tx);
  await tx.delete(systemRobots).where(eq(systemRobots.id, id));
}

export async function touchSystemRobot(db: Tx, id: number, at: string): Promise<void> {
  const { systemRobots } = tablesOf(db);
  await db.update(systemRobots).set({ lastUsedAt: at }).where(eq(systemRobots.id, id));
}

/** Which of `names` are projects. */
export async function existingProjectNames(db: Tx, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const { projects } = tablesOf(db);
  return (await db.select({ name: projects.name }).from(projects).where(inArray(projects.name, names))).map((r) => r.name);
}

/** The projects a user is a member of (in person or through a group), with their creation times. */
export function projectsOfMember(db: Tx, userId: number): Promise<{ name: string; createdAt: string }[]> {
  const { projects } = tablesOf(db);
  return db.select({ name: projects.name, createdAt: projects.createdAt }).from(projects).where(memberOfProject(db, userId));
}

export function projectWithId(db: Tx, id: number): Promise<Project | undefined> {
  const { projects } = tablesOf(db);
  return firstRow(db.select().from(projects).where(eq(projects.id, id)));
}

/** The SQL condition on `projects` of a scope; exported for the stores that list what projects hold. */
export const projectScopeCondition = scopeCondition;
