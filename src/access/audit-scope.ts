import type { Ctx } from '../context';
import type { AuditScope } from '../audit/list';
import { forbidden, unauthorized } from '../errors';
import { findUserById } from '../identity/users';
import { projectsOfMember } from './store';

/**
 * Which audit rows the caller may read: everything for system admins; otherwise their own and
 * those of the projects they are a member of. Robots and anonymous callers read none.
 */
export async function auditScope(ctx: Pick<Ctx, 'db' | 'principal'>): Promise<AuditScope> {
  const { db, principal } = ctx;
  if (principal.kind === 'robot' || principal.kind === 'system-robot') throw forbidden('auth.robotNotAllowed');
  if (principal.kind !== 'user') throw unauthorized();
  if (principal.admin) return { all: true };
  const me = await findUserById(db, principal.id);
  return { username: principal.username, userCreatedAt: me?.createdAt ?? null, projects: await projectsOfMember(db, principal.id) };
}
