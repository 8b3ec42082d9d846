import { and, asc, eq } from 'drizzle-orm';
import type { Db, Tx } from '../db/open';
import { groupMembers } from '../db/schema';
import { badRequest, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import type { Actor, Principal } from '../identity/principal';
import { managedProject, memberVisibleProject } from './projects';
import type { Role } from './roles';

/** A directory group's name (its cn): printable, no control characters. */
export function assertGroupName(name: string): void {
  if (name.length < 1 || name.length > 256 || /[\u0000-\u001f\u007f]/.test(name)) throw badRequest('group.badName');
}

export function listGroupRoles(db: Tx, principal: Principal, projectName: string) {
  const { project } = memberVisibleProject(db, principal, projectName);
  return db
    .select({ group: groupMembers.groupName, role: groupMembers.role })
    .from(groupMembers)
    .where(eq(groupMembers.projectId, project.id))
    .orderBy(asc(groupMembers.groupName))
    .all();
}

export function setGroupRole(db: Db, principal: Principal, projectName: string, group: string, role: Role, actor: Actor) {
  assertGroupName(group);
  return db.transaction((tx) => {
    const { project } = managedProject(tx, principal, projectName);
    tx.insert(groupMembers)
      .values({ projectId: project.id, groupName: group, role })
      .onConflictDoUpdate({ target: [groupMembers.projectId, groupMembers.groupName], set: { role } })
      .run();
    recordAudit(tx, {
      username: actor.username,
      action: 'group_set',
      resourceType: 'group',
      resource: group,
      project: project.name,
      sourceIp: actor.ip,
      detail: JSON.stringify({ role }),
    });
    return { group, role };
  });
}

export function removeGroupRole(db: Db, principal: Principal, projectName: string, group: string, actor: Actor): void {
  db.transaction((tx) => {
    const { project } = managedProject(tx, principal, projectName);
    const removed = tx
      .delete(groupMembers)
      .where(and(eq(groupMembers.projectId, project.id), eq(groupMembers.groupName, group)))
      .run().changes;
    if (removed === 0) throw notFound('group.notFound', { name: group, project: projectName });
    recordAudit(tx, { username: actor.username, action: 'group_remove', resourceType: 'group', resource: group, project: project.name, sourceIp: actor.ip });
  });
}
