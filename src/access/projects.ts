import { and, asc, count, eq, exists, or, sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { groupMembers, members, projects, repositories, userGroups, users } from '../db/schema';
import { contains } from '../db/search';
import { preparedPerConnection } from '../db/prepared';
import { badRequest, conflict, forbidden, notFound, unauthorized } from '../errors';
import { recordAudit } from '../audit/record';
import type { Actor, Principal } from '../identity/principal';
import { findUser } from '../identity/users';
import type { RegistryClient } from '../registry/client';
import type { Log } from '../log';
import { canManageProject, canSeeProject, highestRole, isValidProjectName, PROJECT_NAME_MAX, type Role } from './roles';

export type Project = typeof projects.$inferSelect;

export function assertProjectName(name: string): void {
  if (!isValidProjectName(name))
    throw badRequest('project.badName', { max: PROJECT_NAME_MAX });
}

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

export const findProject = (db: Tx, name: string): Project | undefined => projectByName(db).get({ name });

/** The caller's role in a project: the highest of their own membership and their directory groups'. */
export function roleIn(db: Tx, principal: Principal, projectId: number): Role | null {
  if (principal.kind !== 'user') return null;
  const own = memberRole(db).get({ projectId, userId: principal.id })?.role ?? null;
  if (own === 'projectAdmin') return own;
  return highestRole([own, ...groupRoles(db).all({ projectId, userId: principal.id }).map((r) => r.role)]);
}

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

/** Whether a principal may see a project at all; a robot sees its own project only. */
export function seesProject(principal: Principal, project: Project, role: Role | null): boolean {
  if (principal.kind === 'robot') return principal.projectId === project.id;
  return canSeeProject(principal.admin, role, project.public);
}

export interface ProjectAccess {
  project: Project;
  role: Role | null;
  canManage: boolean;
}

/** A project the caller can see, else 404 (a private project's existence is not revealed). */
export function visibleProject(db: Tx, principal: Principal, name: string): ProjectAccess {
  const project = findProject(db, name);
  if (!project) throw notFound('project.notFound', { name });
  const role = roleIn(db, principal, project.id);
  if (!seesProject(principal, project, role)) throw notFound('project.notFound', { name });
  return { project, role, canManage: canManageProject(principal.admin, role) };
}

/** Whether the caller may see who belongs to a project: system admins and the project's own members (directly or through a group). */
export const seesMembers = (principal: Principal, access: ProjectAccess) => principal.kind === 'user' && (principal.admin || access.role !== null);

/**
 * A project whose members and group roles the caller may list: 404 when they cannot see the
 * project, 401 for anonymous callers, 403 for robots and for users outside a public project.
 */
export function memberVisibleProject(db: Tx, principal: Principal, name: string): ProjectAccess {
  const access = visibleProject(db, principal, name);
  if (principal.kind === 'anonymous') throw unauthorized();
  if (!seesMembers(principal, access)) throw forbidden('project.membersOnly');
  return access;
}

/** A project the caller may administer: 404 when they cannot see it, 403 when they only see it. */
export function managedProject(db: Tx, principal: Principal, name: string): ProjectAccess {
  const access = visibleProject(db, principal, name);
  if (!access.canManage) throw forbidden('project.manageOnly');
  return access;
}

export function projectView(p: Project, extra: { role?: Role | null; repositoryCount?: number } = {}) {
  return {
    name: p.name,
    public: p.public,
    createdBy: p.createdBy,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    ...(extra.role !== undefined ? { role: extra.role } : {}),
    ...(extra.repositoryCount !== undefined ? { repositoryCount: extra.repositoryCount } : {}),
  };
}

export function createProject(db: Db, principal: Principal, input: { name: string; public?: boolean }, actor: Actor): Project {
  if (principal.kind !== 'user') throw forbidden('project.usersOnly');
  assertProjectName(input.name);
  return db.transaction((tx) => {
    if (findProject(tx, input.name)) throw conflict('project.exists', { name: input.name });
    const project = tx
      .insert(projects)
      .values({ name: input.name, public: input.public ?? false, createdBy: principal.username })
      .returning()
      .get();
    tx.insert(members).values({ projectId: project.id, userId: principal.id, role: 'projectAdmin' }).run();
    recordAudit(tx, {
      username: actor.username,
      action: 'project_create',
      resourceType: 'project',
      resource: project.name,
      project: project.name,
      sourceIp: actor.ip,
      detail: JSON.stringify({ public: project.public }),
    });
    return project;
  });
}

export interface CreatedProject {
  project: Project;
  /** Repositories the registry still lists under this name (left by an earlier project); null when it could not be asked. */
  leftoverRepositories: string[] | null;
}

/**
 * Creates a project, then asks the registry for repositories already under its name: a project
 * deleted earlier leaves them in the catalog, with their layers, until garbage collection.
 */
export async function createProjectReportingLeftovers(
  deps: { db: Db; registry: RegistryClient; log: Log },
  principal: Principal,
  input: { name: string; public?: boolean },
  actor: Actor,
): Promise<CreatedProject> {
  const project = createProject(deps.db, principal, input, actor);
  try {
    return { project, leftoverRepositories: await deps.registry.catalogUnder(`${project.name}/`) };
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, project: project.name }, 'could not ask the registry for repositories left under a new project');
    return { project, leftoverRepositories: null };
  }
}

/** Creates a project with no members (default project, adopted repositories). */
export function ensureProject(tx: Tx, name: string, isPublic: boolean, actor: Actor): Project {
  const existing = findProject(tx, name);
  if (existing) return existing;
  const project = tx.insert(projects).values({ name, public: isPublic, createdBy: actor.username }).returning().get();
  recordAudit(tx, {
    username: actor.username,
    action: 'project_create',
    resourceType: 'project',
    resource: name,
    project: name,
    detail: JSON.stringify({ public: isPublic }),
  });
  return project;
}

export function listProjects(db: Tx, principal: Principal, opts: { q?: string } & PageRequest) {
  const conditions: (SQL | undefined)[] = [];
  if (opts.q) conditions.push(contains(projects.name, opts.q));
  if (principal.kind === 'robot') conditions.push(eq(projects.id, principal.projectId));
  else if (!principal.admin) {
    const memberOf = principal.kind === 'user' ? memberOfProject(db, principal.id) : undefined;
    conditions.push(memberOf ? or(eq(projects.public, true), memberOf) : eq(projects.public, true));
  }
  const where = and(...conditions);
  const page = readPage(db.select().from(projects).where(where).orderBy(asc(projects.name)), db.select({ n: count() }).from(projects).where(where), opts);
  return { items: page.items.map((p) => ({ project: p, role: roleIn(db, principal, p.id) })), total: page.total };
}

export function repositoryCount(db: Tx, projectId: number): number {
  return db.select({ n: count() }).from(repositories).where(eq(repositories.projectId, projectId)).get()!.n;
}

export function updateProject(db: Db, principal: Principal, name: string, input: { public?: boolean }, actor: Actor): Project {
  return db.transaction((tx) => {
    const { project } = managedProject(tx, principal, name);
    const updated = tx
      .update(projects)
      .set({ public: input.public ?? project.public, updatedAt: new Date().toISOString() })
      .where(eq(projects.id, project.id))
      .returning()
      .get();
    recordAudit(tx, {
      username: actor.username,
      action: 'project_update',
      resourceType: 'project',
      resource: name,
      project: name,
      sourceIp: actor.ip,
      detail: JSON.stringify(input),
    });
    return updated;
  });
}

/** Only an empty project other than the default one can be deleted: 409 with the reason otherwise. */
export function assertDeletable(tx: Tx, project: Project, defaultProject: string): void {
  if (project.name === defaultProject) throw conflict('project.defaultUndeletable', { name: project.name });
  const n = repositoryCount(tx, project.id);
  if (n > 0) throw conflict('project.notEmpty', { name: project.name, count: n });
}

export function deleteProject(db: Db, principal: Principal, name: string, defaultProject: string, actor: Actor): void {
  db.transaction((tx) => {
    const { project } = managedProject(tx, principal, name);
    assertDeletable(tx, project, defaultProject);
    tx.delete(projects).where(eq(projects.id, project.id)).run();
    recordAudit(tx, {
      username: actor.username,
      action: 'project_delete',
      resourceType: 'project',
      resource: name,
      project: name,
      sourceIp: actor.ip,
    });
  });
}

export function listMembers(db: Tx, principal: Principal, name: string) {
  const { project } = memberVisibleProject(db, principal, name);
  return db
    .select({ username: users.username, role: members.role, createdAt: members.createdAt })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(eq(members.projectId, project.id))
    .orderBy(asc(users.username))
    .all();
}

/**
 * The one user whose projectAdmin role the caller may not take away (demote or remove), or null:
 * the last user who has it, when no directory group has it either. The project would be left with
 * nobody to manage it but the system admins, and a projectAdmin removing themselves would lose a
 * private project at once. System admins may.
 */
export function lockedProjectAdmin(tx: Tx, principal: Principal, projectId: number): { userId: number; username: string } | null {
  if (principal.admin) return null;
  const admins = tx
    .select({ userId: members.userId, username: users.username })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(and(eq(members.projectId, projectId), eq(members.role, 'projectAdmin')))
    .all();
  if (admins.length !== 1) return null;
  const groupAdmins = tx
    .select({ n: count() })
    .from(groupMembers)
    .where(and(eq(groupMembers.projectId, projectId), eq(groupMembers.role, 'projectAdmin')))
    .get()!.n;
  return groupAdmins === 0 ? admins[0]! : null;
}

/** Whether the caller may change this member's role or remove them (see lockedProjectAdmin). */
export const canChangeRole = (tx: Tx, principal: Principal, projectId: number, userId: number): boolean =>
  lockedProjectAdmin(tx, principal, projectId)?.userId !== userId;

function keepAnAdmin(tx: Tx, principal: Principal, projectId: number, projectName: string, userId: number): void {
  if (!canChangeRole(tx, principal, projectId, userId)) throw conflict('member.lastAdmin', { project: projectName });
}

export function setMember(db: Db, principal: Principal, name: string, username: string, role: Role, actor: Actor) {
  return db.transaction((tx) => {
    const { project } = managedProject(tx, principal, name);
    const user = findUser(tx, username);
    if (!user) throw notFound('user.notFound', { name: username });
    if (role !== 'projectAdmin') keepAnAdmin(tx, principal, project.id, name, user.id);
    tx.insert(members)
      .values({ projectId: project.id, userId: user.id, role })
      .onConflictDoUpdate({ target: [members.projectId, members.userId], set: { role } })
      .run();
    recordAudit(tx, {
      username: actor.username,
      action: 'member_set',
      resourceType: 'member',
      resource: user.username,
      project: name,
      sourceIp: actor.ip,
      detail: JSON.stringify({ role }),
    });
    return { username: user.username, role };
  });
}

export function removeMember(db: Db, principal: Principal, name: string, username: string, actor: Actor): void {
  db.transaction((tx) => {
    const { project } = managedProject(tx, principal, name);
    const user = findUser(tx, username);
    if (user) keepAnAdmin(tx, principal, project.id, name, user.id);
    const removed = user
      ? tx
          .delete(members)
          .where(and(eq(members.projectId, project.id), eq(members.userId, user.id)))
          .run().changes
      : 0;
    if (removed === 0) throw notFound('member.notFound', { name: username, project: name });
    recordAudit(tx, {
      username: actor.username,
      action: 'member_remove',
      resourceType: 'member',
      resource: user!.username,
      project: name,
      sourceIp: actor.ip,
    });
  });
}
