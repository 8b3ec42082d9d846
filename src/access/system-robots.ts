import { isoTime, type Clock } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import type { Db, Tx } from '../db/open';
import { badRequest, conflict, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import { assertSystemAdmin, type Principal } from '../identity/principal';
import { recordFailure, type CredentialVerifier } from '../identity/authenticate';
import { ROBOT_PREFIX } from '../identity/names';
import { newSecret } from '../identity/secrets';
import { acceptsSecret, ROBOT_NAME_RE } from './robots';
import { REPOSITORY_ACTIONS, type RepositoryAction } from './roles';
import {
  changeSystemRobot,
  deleteSystemRobotRow,
  existingProjectNames,
  findSystemRobot,
  insertSystemRobot,
  replaceSystemRobotProjects,
  systemRobotRows,
  touchSystemRobot,
  type SystemRobot,
} from './store';

export type SystemRobotPrincipal = Extract<Principal, { kind: 'system-robot' }>;
/** Every project, or these by name. */
export type RobotProjects = '*' | string[];

export const systemRobotAccount = (name: string) => `${ROBOT_PREFIX}${name}`;

/** `robot$ci` → `ci`; null for any other name, a project robot's (`robot$team+ci`) included. */
export function parseSystemRobotAccount(username: string): string | null {
  const m = /^robot\$([a-z0-9._-]{1,64})$/.exec(username);
  return m ? m[1]! : null;
}

const storedProjects = (projects: RobotProjects): string => (projects === '*' ? '*' : JSON.stringify(projects));
const projectsOf = (r: SystemRobot): RobotProjects => (r.projects === '*' ? '*' : (JSON.parse(r.projects) as string[]));
const permissionsOf = (r: SystemRobot) => r.permissions.split(',').filter(Boolean) as RepositoryAction[];

/** Whether a system robot acts on this project. */
export const robotCovers = (principal: SystemRobotPrincipal, project: string): boolean => principal.projects === '*' || principal.projects.includes(project);

export function systemRobotView(r: SystemRobot) {
  return {
    name: systemRobotAccount(r.name),
    permissions: permissionsOf(r),
    projects: projectsOf(r),
    createProjects: r.createProjects,
    disabled: r.disabled,
    expiresAt: r.expiresAt,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
  };
}

function permissionsFrom(asked: RepositoryAction[]): RepositoryAction[] {
  const permissions = REPOSITORY_ACTIONS.filter((a) => asked.includes(a));
  if (permissions.length === 0) throw badRequest('robot.noPermissions');
  return permissions;
}

/** The list as given without repeats; 400 naming the first project that does not exist. */
async function checkedProjects(tx: Tx, projects: RobotProjects): Promise<RobotProjects> {
  if (projects === '*') return '*';
  const wanted = [...new Set(projects)];
  const existing = new Set(await existingProjectNames(tx, wanted));
  const unknown = wanted.find((p) => !existing.has(p));
  if (unknown !== undefined) throw badRequest('robot.unknownProject', { name: unknown });
  return wanted;
}

/** The short name from either `ci` or `robot$ci`. */
const shortName = (name: string) => parseSystemRobotAccount(name) ?? name;

async function robotNamed(tx: Tx, name: string): Promise<SystemRobot> {
  const robot = await findSystemRobot(tx, shortName(name));
  if (!robot) throw notFound('robot.notFound', { name });
  return robot;
}

export interface SystemRobotInput {
  name: string;
  permissions: RepositoryAction[];
  projects: RobotProjects;
  createProjects?: boolean;
  expiresInDays?: number;
}

export function createSystemRobot(ctx: Ctx, input: SystemRobotInput) {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  if (!ROBOT_NAME_RE.test(input.name) || input.name.length > 64) throw badRequest('robot.badName');
  const permissions = permissionsFrom(input.permissions);
  const { secret, hash } = newSecret('wrb');
  const expiresAt = input.expiresInDays ? isoTime(ctx.clock.now() + input.expiresInDays * 86_400_000) : null;
  return transaction(ctx.db, async (tx) => {
    const projects = await checkedProjects(tx, input.projects);
    if (await findSystemRobot(tx, input.name)) throw conflict('robot.exists', { name: systemRobotAccount(input.name) });
    const robot = await insertSystemRobot(tx, {
      name: input.name,
      secretHash: hash,
      permissions: permissions.join(','),
      projects: storedProjects(projects),
      createProjects: input.createProjects ?? false,
      expiresAt,
      createdBy: actor.username,
    });
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_create',
      resourceType: 'robot',
      resource: systemRobotAccount(robot.name),
      sourceIp: actor.ip,
      detail: JSON.stringify({ permissions, projects, createProjects: robot.createProjects, expiresAt }),
    });
    return { ...systemRobotView(robot), secret };
  });
}

export async function listSystemRobots(ctx: Pick<Ctx, 'db' | 'principal'>) {
  assertSystemAdmin(ctx.principal);
  return (await systemRobotRows(ctx.db)).map(systemRobotView);
}

export function updateSystemRobot(ctx: Ctx, name: string, input: { disabled?: boolean; projects?: RobotProjects; permissions?: RepositoryAction[] }) {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  const permissions = input.permissions && permissionsFrom(input.permissions);
  return transaction(ctx.db, async (tx) => {
    const robot = await robotNamed(tx, name);
    const projects = input.projects && (await checkedProjects(tx, input.projects));
    const updated = await changeSystemRobot(tx, robot.id, {
      ...(input.disabled !== undefined ? { disabled: input.disabled } : {}),
      ...(projects ? { projects: storedProjects(projects) } : {}),
      ...(permissions ? { permissions: permissions.join(',') } : {}),
    });
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_update',
      resourceType: 'robot',
      resource: systemRobotAccount(robot.name),
      sourceIp: actor.ip,
      detail: JSON.stringify({ disabled: input.disabled, projects, permissions }),
    });
    return systemRobotView(updated);
  });
}

export async function deleteSystemRobot(ctx: Ctx, name: string): Promise<void> {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  await transaction(ctx.db, async (tx) => {
    const robot = await robotNamed(tx, name);
    await deleteSystemRobotRow(tx, robot.id);
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_delete',
      resourceType: 'robot',
      resource: systemRobotAccount(robot.name),
      sourceIp: actor.ip,
    });
  });
}

/** A project a system robot just created joins its list (unless it covers every project). */
export async function addCreatedProject(tx: Tx, principal: SystemRobotPrincipal, project: string): Promise<void> {
  // The list is replaced only if unchanged since read, so two creations at once both land.
  for (;;) {
    const robot = await findSystemRobot(tx, shortName(principal.username));
    if (!robot || robot.projects === '*') return;
    const list = projectsOf(robot) as string[];
    if (list.includes(project)) return;
    if (await replaceSystemRobotProjects(tx, robot.id, robot.projects, storedProjects([...list, project]))) return;
  }
}

/** A deleted project leaves every system robot's list, so a new project of that name inherits no robot. */
export async function forgetProjectInSystemRobots(tx: Tx, project: string): Promise<void> {
  for (const robot of await systemRobotRows(tx)) {
    if (robot.projects === '*') continue;
    const list = projectsOf(robot) as string[];
    if (!list.includes(project)) continue;
    await changeSystemRobot(tx, robot.id, { projects: storedProjects(list.filter((p) => p !== project)) });
  }
}

/** A system robot's credentials, read from the database on every use; null when they do not match a usable robot. */
export async function verifySystemRobot(db: Db, clock: Clock, username: string, secret: string): Promise<SystemRobotPrincipal | null> {
  const name = parseSystemRobotAccount(username);
  if (!name || secret.length > 256) return null;
  const robot = await findSystemRobot(db, name);
  if (!acceptsSecret(robot, secret, clock.now())) return null;
  await touchSystemRobot(db, robot.id, isoTime(clock.now()));
  return {
    kind: 'system-robot',
    id: robot.id,
    username: systemRobotAccount(robot.name),
    admin: false,
    projects: projectsOf(robot),
    permissions: permissionsOf(robot),
    createProjects: robot.createProjects,
  };
}

/** System robot accounts (`robot$<name>`, no `+`): a wrong secret ends the check, as for project robots. */
export const systemRobotCredential: CredentialVerifier = async (deps, username, secret, ctx) => {
  if (parseSystemRobotAccount(username) === null) return null;
  const robot = await verifySystemRobot(deps.db, deps.clock, username, secret);
  if (robot) return robot;
  await recordFailure(deps, username, ctx, 'failure');
  return 'refused';
};
