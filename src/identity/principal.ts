import { forbidden } from '../errors';
import type { User } from './users';

/** Who is acting, for audit rows. */
export interface Actor {
  username: string;
  ip?: string | null;
  userAgent?: string | null;
}

/** An authenticated caller of the token service or the API. */
export type Principal =
  | { kind: 'user'; id: number; username: string; admin: boolean; source: string; via: 'password' | 'token' | 'session' | 'refresh' }
  | {
      kind: 'robot';
      id: number;
      /** `robot$<project>+<name>` */
      username: string;
      admin: false;
      projectId: number;
      projectName: string;
      permissions: ('pull' | 'push' | 'delete')[];
    }
  | {
      kind: 'system-robot';
      id: number;
      /** `robot$<name>` (no `+`: a project robot's names always have one) */
      username: string;
      admin: false;
      /** The projects it acts on: every one, or these by name. */
      projects: '*' | string[];
      permissions: ('pull' | 'push' | 'delete')[];
      createProjects: boolean;
    }
  | { kind: 'anonymous'; username: 'anonymous'; admin: false };

export const anonymous: Principal = { kind: 'anonymous', username: 'anonymous', admin: false };

/** Wharf itself in audit rows (first start, adopted repositories, directory sync); a reserved user name. */
export const SYSTEM_ACTOR: Actor = { username: 'system' };
/** Wharf itself as the caller of a service: the schedulers' and triggers' runs. */
export const SYSTEM_PRINCIPAL: Principal = { kind: 'user', id: 0, username: SYSTEM_ACTOR.username, admin: true, source: 'local', via: 'password' };

/** The token subject of Wharf's own registry calls; `$` keeps it apart from every user name. */
export const INTERNAL_SUBJECT = 'wharf$internal';

/** The token subject of replication's pushes and pulls at Wharf's own registry: its events and audit rows name it. */
export const REPLICATION_SUBJECT = 'wharf$replication';

export const userPrincipal = (u: User, via: 'password' | 'token' | 'refresh' | 'session'): Principal => ({
  kind: 'user',
  id: u.id,
  username: u.username,
  admin: u.admin,
  source: u.source,
  via,
});

/** 403 unless the caller is a system admin (a user: robots never are). */
export function assertSystemAdmin(principal: Principal): void {
  if (principal.kind !== 'user' || !principal.admin) throw forbidden('auth.adminOnly');
}
