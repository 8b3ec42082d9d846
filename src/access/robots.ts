import { and, asc, eq } from 'drizzle-orm';
import type { Clock } from '../clock';
import type { Db, Tx } from '../db/open';
import { robots } from '../db/schema';
import { badRequest, conflict, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import type { Actor, Principal } from '../identity/principal';
import { hashSecret, newSecret, sameHash } from '../identity/secrets';
import { findProject, managedProject } from './projects';
import { REPOSITORY_ACTIONS, type RepositoryAction } from './roles';

export type Robot = typeof robots.$inferSelect;

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

export function createRobot(
  db: Db,
  clock: Clock,
  principal: Principal,
  projectName: string,
  input: { name: string; permissions: RepositoryAction[]; expiresInDays?: number },
  actor: Actor,
) {
  if (!ROBOT_NAME_RE.test(input.name) || input.name.length > 64)
    throw badRequest('robot.badName');
  const permissions = REPOSITORY_ACTIONS.filter((a) => input.permissions.includes(a));
  if (permissions.length === 0) throw badRequest('robot.noPermissions');
  const { secret, hash } = newSecret('wrb');
  const expiresAt = input.expiresInDays ? new Date(clock.now() + input.expiresInDays * 86_400_000).toISOString() : null;
  return db.transaction((tx) => {
    const { project } = managedProject(tx, principal, projectName);
    if (tx.select().from(robots).where(and(eq(robots.projectId, project.id), eq(robots.name, input.name))).get())
      throw conflict('robot.exists', { name: robotAccount(project.name, input.name) });
    const robot = tx
      .insert(robots)
      .values({ projectId: project.id, name: input.name, secretHash: hash, permissions: permissions.join(','), expiresAt, createdBy: actor.username })
      .returning()
      .get();
    recordAudit(tx, {
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

export function listRobots(db: Tx, principal: Principal, projectName: string) {
  const { project } = managedProject(db, principal, projectName);
  return db
    .select()
    .from(robots)
    .where(eq(robots.projectId, project.id))
    .orderBy(asc(robots.name))
    .all()
    .map((r) => robotView(r, project.name));
}

function getRobot(tx: Tx, projectId: number, projectName: string, name: string): Robot {
  const robot = tx
    .select()
    .from(robots)
    .where(and(eq(robots.projectId, projectId), eq(robots.name, shortName(projectName, name))))
    .get();
  if (!robot) throw notFound('robot.notFound', { name });
  return robot;
}

export function updateRobot(db: Db, principal: Principal, projectName: string, name: string, input: { disabled?: boolean }, actor: Actor) {
  return db.transaction((tx) => {
    const { project } = managedProject(tx, principal, projectName);
    const robot = getRobot(tx, project.id, project.name, name);
    const updated = tx
      .update(robots)
      .set({ disabled: input.disabled ?? robot.disabled })
      .where(eq(robots.id, robot.id))
      .returning()
      .get();
    recordAudit(tx, {
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

export function deleteRobot(db: Db, principal: Principal, projectName: string, name: string, actor: Actor): void {
  db.transaction((tx) => {
    const { project } = managedProject(tx, principal, projectName);
    const robot = getRobot(tx, project.id, project.name, name);
    tx.delete(robots).where(eq(robots.id, robot.id)).run();
    recordAudit(tx, {
      username: actor.username,
      action: 'robot_delete',
      resourceType: 'robot',
      resource: robotAccount(project.name, robot.name),
      project: project.name,
      sourceIp: actor.ip,
    });
  });
}

/** A robot's credentials: its account name and secret. Null when they do not match a usable robot. */
export function verifyRobot(db: Db, clock: Clock, username: string, secret: string): Principal | null {
  const parsed = parseRobotAccount(username);
  if (!parsed || secret.length > 256) return null;
  const project = findProject(db, parsed.project);
  if (!project) return null;
  const robot = db
    .select()
    .from(robots)
    .where(and(eq(robots.projectId, project.id), eq(robots.name, parsed.name)))
    .get();
  if (!robot || !sameHash(robot.secretHash, hashSecret(secret))) return null;
  if (robot.disabled) return null;
  if (robot.expiresAt && Date.parse(robot.expiresAt) <= clock.now()) return null;
  db.update(robots).set({ lastUsedAt: new Date(clock.now()).toISOString() }).where(eq(robots.id, robot.id)).run();
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

