import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import { badRequest, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import { managedProject, memberVisibleProject } from './projects';
import { deleteGroupRole, groupRoleRows, upsertGroupRole } from './store';
import type { Role } from './roles';

/** A directory group's name (its cn): printable, no control characters. */
export function assertGroupName(name: string): void {
  if (name.length < 1 || name.length > 256 || /[\u0000-\u001f\u007f]/.test(name)) throw badRequest('group.badName');
}

export async function listGroupRoles(ctx: Pick<Ctx, 'db' | 'principal'>, projectName: string) {
  const { project } = await memberVisibleProject(ctx.db, ctx.principal, projectName);
  return groupRoleRows(ctx.db, project.id);
}

export function setGroupRole(ctx: Ctx, projectName: string, group: string, role: Role) {
  const { principal, actor } = ctx;
  assertGroupName(group);
  return transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, projectName);
    await upsertGroupRole(tx, project.id, group, role);
    await recordAudit(tx, {
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

export async function removeGroupRole(ctx: Ctx, projectName: string, group: string): Promise<void> {
  const { principal, actor } = ctx;
  await transaction(ctx.db, async (tx) => {
    const { project } = await managedProject(tx, principal, projectName);
    if (!(await deleteGroupRole(tx, project.id, group))) throw notFound('group.notFound', { name: group, project: projectName });
    await recordAudit(tx, { username: actor.username, action: 'group_remove', resourceType: 'group', resource: group, project: project.name, sourceIp: actor.ip });
  });
}
