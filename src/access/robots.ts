import { isoTime, type Clock } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import type { Db, Tx } from '../db/open';
import { badRequest, conflict, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import type { Principal } from '../identity/principal';
import { recordFailure, type CredentialVerifier } from '../identity/authenticate';
import { ROBOT_PREFIX } from '../identity/names';
import { hashSecret, newSecret, sameHash } from '../identity/secrets';
import { managedProject } from './projects';
import { deleteRobotRow, findProject, findRobot, insertRobot, robotRows, setRobotDisabled, touchRobot, type Robot } from './store';
import { REPOSITORY_ACTIONS, type RepositoryAction } from './roles';

export type { Robot } from './store';

export const ROBOT_NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const robotAccount = (project: string, name: string) => `robot$${project}+${name}`;

/** `robot$team+ci` → {project: team, name: ci}; null for any other user name. */
export function parseRobotAccount(username: string): { project: string; name: string } | null {
  const m = /^robot\$([a-z0-9._-]{1,128})\+([a-z0-9._-]{1,64})$/.exec(username);
  return m ? { project: m[1]!, name: m[2]! } : null;
}

export const robotPermissions = (r: Robot) => r.permissions.split(',').filter(Boolean) as RepositoryAction[];

export function robotView(r: Robot, project: string) {
  return {
    name: robotAccount(project, r.name),
    permissions: robotPermissions(r),
    disabled: r.disabled,
    expiresAt: r.expiresAt,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
  };
}

/** The short name from either `ci` or the full `robot$team+ci`. */
function shortName(project: string, name: string): string {
  const full = parseRobotAccount(name);
  if (full) {
    if (full.project !== project) throw notFound('robot.notFound', { name });
    return full.name;
  }
  return name;
}

export function createRobot(ctx: Ctx, projectName: string, input: { name: string; permissions: RepositoryAction[]; expiresInDays?: number }) {
  const { principal, actor } = ctx;
  if (!ROBOT_NAME_RE.test(input.name) || input.name.length > 64)
    throw badRequest('robot.badName');
  const permissions = REPOSITORY_ACTIONS.filter((a) => input.permissions.includes(a));
  if (permissions.length === 0) throw badRequest('robot.noPermissions');
  const { secret, hash } = newSecret('wrb');
  const expiresAt = input.expiresInDays ? isoTime(ctx.clock.now() + input.expiresInDays * 86_400_000) : null;
  return transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, projectName);
    if (await findRobot(tx, project.id, input.name)) throw conflict('robot.exists', { name: robotAccount(project.name, input.name) });
    const robot = await insertRobot(tx, { projectId: project.id, name: input.name, secretHash: hash, permissions: permissions.join(','), expiresAt, createdBy: actor.username });
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_create',
      resourceType: 'robot',
      resource: robotAccount(project.name, robot.name),
      project: project.name,
      sourceIp: actor.ip,
      detail: JSON.stringify({ permissions, expiresAt }),
    });
    return { ...robotView(robot, project.name), secret };
  });
}

export async function listRobots(ctx: Pick<Ctx, 'db' | 'principal'>, projectName: string) {
  const { project } = await managedProject(ctx.db, ctx.principal, projectName);
  return (await robotRows(ctx.db, project.id)).map((r) => robotView(r, project.name));
}

async function getRobot(tx: Tx, projectId: number, projectName: string, name: string): Promise<Robot> {
  const robot = await findRobot(tx, projectId, shortName(projectName, name));
  if (!robot) throw notFound('robot.notFound', { name });
  return robot;
}

export function updateRobot(ctx: Ctx, projectName: string, name: string, input: { disabled?: boolean }) {
  const { principal, actor } = ctx;
  return transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, projectName);
    const robot = await getRobot(tx, project.id, project.name, name);
    const updated = await setRobotDisabled(tx, robot.id, input.disabled ?? robot.disabled);
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_update',
      resourceType: 'robot',
      resource: robotAccount(project.name, robot.name),
      project: project.name,
      sourceIp: actor.ip,
      detail: JSON.stringify(input),
    });
    return robotView(updated, project.name);
  });
}

export async function deleteRobot(ctx: Ctx, projectName: string, name: string): Promise<void> {
  const { principal, actor } = ctx;
  await transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, projectName);
    const robot = await getRobot(tx, project.id, project.name, name);
    await deleteRobotRow(tx, robot.id);
    await recordAudit(tx, {
      username: actor.username,
      action: 'robot_delete',
      resourceType: 'robot',
      resource: robotAccount(project.name, robot.name),
      project: project.name,
      sourceIp: actor.ip,
    });
  });
}

/** Whether a robot (of a project or of the system) answers to this secret and may act now: not disabled, not expired. */
export function acceptsSecret<R extends { secretHash: string; disabled: boolean; expiresAt: string | null }>(robot: R | undefined, secret: string, nowMs: number): robot is R {
  if (!robot || !sameHash(robot.secretHash, hashSecret(secret)) || robot.disabled) return false;
  return !(robot.expiresAt && Date.parse(robot.expiresAt) <= nowMs);
}

/** A robot's credentials: its account name and secret. Null when they do not match a usable robot. */
export async function verifyRobot(db: Db, clock: Clock, username: string, secret: string): Promise<Principal | null> {
  const parsed = parseRobotAccount(username);
  if (!parsed || secret.length > 256) return null;
  const project = await findProject(db, parsed.project);
  if (!project) return null;
  const robot = await findRobot(db, project.id, parsed.name);
  if (!acceptsSecret(robot, secret, clock.now())) return null;
  await touchRobot(db, robot.id, isoTime(clock.now()));
  return {
    kind: 'robot',
    id: robot.id,
    username: robotAccount(project.name, robot.name),
    admin: false,
    projectId: project.id,
    projectName: project.name,
    permissions: robotPermissions(robot),
  };
}

/** Robot accounts as a credential: a robot's name is never a user's, so a wrong secret ends the check. */
export const robotCredential: CredentialVerifier = async (deps, username, secret, ctx) => {
  if (!username.startsWith(ROBOT_PREFIX)) return null;
  const robot = await verifyRobot(deps.db, deps.clock, username, secret);
  if (robot) return robot;
  await recordFailure(deps, username, ctx, 'failure');
  return 'refused';
};
