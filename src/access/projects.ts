import { isoTime } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import type { Tx } from '../db/open';
import type { PageRequest } from '../db/paged';
import { badRequest, conflict, forbidden, notFound, unauthorized } from '../errors';
import { recordAudit } from '../audit/record';
import type { Actor, Principal } from '../identity/principal';
import { findUser } from '../identity/users';
import {
  deleteMember,
  deleteProjectRow,
  findProject,
  findProjectWithRoles,
  groupRolesOf,
  insertProject,
  memberRows,
  ownRole,
  pageOfProjects,
  projectAdminGroupCount,
  projectAdminMembers,
  repositoryCount,
  setProjectPublic,
  upsertMember,
  type Project,
  type ProjectScope,
} from './store';
import { canManageProject, canSeeProject, highestRole, isValidProjectName, PROJECT_NAME_MAX, type Role } from './roles';
import { addCreatedProject, forgetProjectInSystemRobots, robotCovers } from './system-robots';

export function assertProjectName(name: string): void {
  if (!isValidProjectName(name))
    throw badRequest('project.badName', { max: PROJECT_NAME_MAX });
}

export { findProject, repositoryCount, type Project } from './store';

/** The caller's role in a project: the highest of their own membership and their directory groups'. */
export async function roleIn(db: Tx, principal: Principal, projectId: number): Promise<Role | null> {
  if (principal.kind !== 'user') return null;
  const own = await ownRole(db, projectId, principal.id);
  if (own === 'projectAdmin') return own;
  return highestRole([own, ...(await groupRolesOf(db, projectId, principal.id))]);
}

/** A project and the caller's role in it (as `roleIn` decides it), read together. */
export async function projectAndRole(db: Tx, principal: Principal, name: string): Promise<{ project: Project; role: Role | null } | undefined> {
  if (principal.kind !== 'user') {
    const project = await findProject(db, name);
    return project && { project, role: null };
  }
  const found = await findProjectWithRoles(db, name, principal.id);
  return found && { project: found.project, role: highestRole([found.own, ...found.groups]) };
}

/** Whether a principal may see a project at all; a robot sees its own project only, a system robot the ones it covers. */
export function seesProject(principal: Principal, project: Project, role: Role | null): boolean {
  if (principal.kind === 'robot') return principal.projectId === project.id;
  if (principal.kind === 'system-robot') return robotCovers(principal, project.name);
  return canSeeProject(principal.admin, role, project.public);
}

export interface ProjectAccess {
  project: Project;
  role: Role | null;
  canManage: boolean;
}

/** A project the caller can see, else 404 (a private project's existence is not revealed). */
export async function visibleProject(db: Tx, principal: Principal, name: string): Promise<ProjectAccess> {
  const project = await findProject(db, name);
  if (!project) throw notFound('project.notFound', { name });
  const role = await roleIn(db, principal, project.id);
  if (!seesProject(principal, project, role)) throw notFound('project.notFound', { name });
  return { project, role, canManage: canManageProject(principal.admin, role) };
}

/** Whether the caller may see who belongs to a project: system admins and the project's own members (directly or through a group). */
export const seesMembers = (principal: Principal, access: ProjectAccess) => principal.kind === 'user' && (principal.admin || access.role !== null);

/**
 * A project whose members and group roles the caller may list: 404 when they cannot see the
 * project, 401 for anonymous callers, 403 for robots and for users outside a public project.
 */
export async function memberVisibleProject(db: Tx, principal: Principal, name: string): Promise<ProjectAccess> {
  const access = await visibleProject(db, principal, name);
  if (principal.kind === 'anonymous') throw unauthorized();
  if (!seesMembers(principal, access)) throw forbidden('project.membersOnly');
  return access;
}

/** A project the caller may administer: 404 when they cannot see it, 403 when they only see it. */
export async function managedProject(db: Tx, principal: Principal, name: string): Promise<ProjectAccess> {
  const access = await visibleProject(db, principal, name);
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

/** Users create projects and become their projectAdmin; a system robot with createProjects creates them with no members, and covers them. */
export function createProject(ctx: Ctx, input: { name: string; public?: boolean }): Promise<Project> {
  const { principal, actor } = ctx;
  if (principal.kind === 'system-robot' && !principal.createProjects) throw forbidden('robot.cannotCreateProjects');
  if (principal.kind !== 'user' && principal.kind !== 'system-robot') throw forbidden('project.usersOnly');
  assertProjectName(input.name);
  return transaction(ctx.db, async (tx) => {
    if (await findProject(tx, input.name)) throw conflict('project.exists', { name: input.name });
    const project = await insertProject(tx, { name: input.name, public: input.public ?? false, createdBy: principal.username });
    if (principal.kind === 'user') await upsertMember(tx, project.id, principal.id, 'projectAdmin');
    else await addCreatedProject(tx, principal, project.name);
    await recordAudit(tx, {
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
export async function createProjectReportingLeftovers(ctx: Ctx, input: { name: string; public?: boolean }): Promise<CreatedProject> {
  const project = await createProject(ctx, input);
  try {
    return { project, leftoverRepositories: await ctx.deps.registry.catalogUnder(`${project.name}/`) };
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message, project: project.name }, 'could not ask the registry for repositories left under a new project');
    return { project, leftoverRepositories: null };
  }
}

/** Creates a project with no members (default project, adopted repositories). */
export async function ensureProject(tx: Tx, name: string, isPublic: boolean, actor: Actor): Promise<Project> {
  const existing = await findProject(tx, name);
  if (existing) return existing;
  const project = await insertProject(tx, { name, public: isPublic, createdBy: actor.username });
  await recordAudit(tx, {
    username: actor.username,
    action: 'project_create',
    resourceType: 'project',
    resource: name,
    project: name,
    detail: JSON.stringify({ public: isPublic }),
  });
  return project;
}

/** Which projects (and so which repositories) a principal's listings show. */
export function listingScope(principal: Principal): ProjectScope {
  if (principal.admin) return { all: true };
  if (principal.kind === 'robot') return { only: principal.projectId };
  if (principal.kind === 'system-robot') return principal.projects === '*' ? { all: true } : { named: principal.projects };
  return { publicOr: principal.kind === 'user' ? principal.id : null };
}

/** The projects the caller can see, each with the caller's role in it. */
export async function listProjects(ctx: Pick<Ctx, 'db' | 'principal'>, opts: { q?: string } & PageRequest) {
  const { db, principal } = ctx;
  const page = await pageOfProjects(db, listingScope(principal), opts);
  const items = [];
  for (const p of page.items) items.push({ project: p, role: await roleIn(db, principal, p.id) });
  return { items, total: page.total };
}

export function updateProject(ctx: Ctx, name: string, input: { public?: boolean }): Promise<Project> {
  const { principal, actor } = ctx;
  return transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, name);
    const updated = await setProjectPublic(tx, project.id, input.public ?? project.public, isoTime(ctx.clock.now()));
    await recordAudit(tx, {
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
export async function assertDeletable(tx: Tx, project: Project, defaultProject: string): Promise<void> {
  if (project.name === defaultProject) throw conflict('project.defaultUndeletable', { name: project.name });
  const n = await repositoryCount(tx, project.id);
  if (n > 0) throw conflict('project.notEmpty', { name: project.name, count: n });
}

export async function deleteProject(ctx: Ctx, name: string): Promise<void> {
  const { principal, actor } = ctx;
  await transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, name);
    await assertDeletable(tx, project, ctx.config.defaultProject.name);
    await deleteProjectRow(tx, project.id);
    await forgetProjectInSystemRobots(tx, project.name);
    await recordAudit(tx, {
      username: actor.username,
      action: 'project_delete',
      resourceType: 'project',
      resource: name,
      project: name,
      sourceIp: actor.ip,
    });
  });
}

export async function listMembers(ctx: Pick<Ctx, 'db' | 'principal'>, name: string) {
  const { project } = await memberVisibleProject(ctx.db, ctx.principal, name);
  return memberRows(ctx.db, project.id);
}

/**
 * The one user whose projectAdmin role the caller may not take away (demote or remove), or null:
 * the last user who has it, when no directory group has it either. The project would be left with
 * nobody to manage it but the system admins, and a projectAdmin removing themselves would lose a
 * private project at once. System admins may.
 */
export async function lockedProjectAdmin(tx: Tx, principal: Principal, projectId: number): Promise<{ userId: number; username: string } | null> {
  if (principal.admin) return null;
  const admins = await projectAdminMembers(tx, projectId);
  if (admins.length !== 1) return null;
  return (await projectAdminGroupCount(tx, projectId)) === 0 ? admins[0]! : null;
}

/** Whether the caller may change this member's role or remove them (see lockedProjectAdmin). */
export const canChangeRole = async (tx: Tx, principal: Principal, projectId: number, userId: number): Promise<boolean> =>
  (await lockedProjectAdmin(tx, principal, projectId))?.userId !== userId;

async function keepAnAdmin(tx: Tx, principal: Principal, projectId: number, projectName: string, userId: number): Promise<void> {
  if (!await canChangeRole(tx, principal, projectId, userId)) throw conflict('member.lastAdmin', { project: projectName });
}

export function setMember(ctx: Ctx, name: string, username: string, role: Role) {
  const { principal, actor } = ctx;
  return transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, name);
    const user = await findUser(tx, username);
    if (!user) throw notFound('user.notFound', { name: username });
    if (role !== 'projectAdmin') await keepAnAdmin(tx, principal, project.id, name, user.id);
    await upsertMember(tx, project.id, user.id, role);
    await recordAudit(tx, {
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

export async function removeMember(ctx: Ctx, name: string, username: string): Promise<void> {
  const { principal, actor } = ctx;
  await transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, name);
    const user = await findUser(tx, username);
    if (user) await keepAnAdmin(tx, principal, project.id, name, user.id);
    if (!user || !(await deleteMember(tx, project.id, user.id))) throw notFound('member.notFound', { name: username, project: name });
    await recordAudit(tx, {
      username: actor.username,
      action: 'member_remove',
      resourceType: 'member',
      resource: user.username,
      project: name,
      sourceIp: actor.ip,
    });
  });
}
