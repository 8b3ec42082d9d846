/** Pure rules: roles, actions, and which project a repository belongs to. */

export const ROLES = ['projectAdmin', 'developer', 'guest'] as const;
export type Role = (typeof ROLES)[number];

export const REPOSITORY_ACTIONS = ['pull', 'push', 'delete'] as const;
export type RepositoryAction = (typeof REPOSITORY_ACTIONS)[number];

const roleRank: Record<Role, number> = { guest: 1, developer: 2, projectAdmin: 3 };

const roleActions: Record<Role, readonly RepositoryAction[]> = {
  projectAdmin: ['pull', 'push', 'delete'],
  developer: ['pull', 'push', 'delete'],
  guest: ['pull'],
};

/** The strongest of several roles (own membership and group memberships), or null. */
export function highestRole(roles: Iterable<Role | null | undefined>): Role | null {
  let best: Role | null = null;
  for (const role of roles) if (role && (!best || roleRank[role] > roleRank[best])) best = role;
  return best;
}

export interface AccessFacts {
  admin: boolean;
  role: Role | null;
  projectPublic: boolean;
  projectExists: boolean;
}

/** What a subject may do to a repository of a project, from the facts about both. */
export function allowedActions(f: AccessFacts): RepositoryAction[] {
  if (f.admin) return [...REPOSITORY_ACTIONS];
  if (!f.projectExists) return [];
  const allowed = new Set<RepositoryAction>(f.role ? roleActions[f.role] : []);
  if (f.projectPublic) allowed.add('pull');
  return REPOSITORY_ACTIONS.filter((a) => allowed.has(a));
}

export const canManageProject = (admin: boolean, role: Role | null) => admin || role === 'projectAdmin';
export const canSeeProject = (admin: boolean, role: Role | null, isPublic: boolean) => admin || role !== null || isPublic;

/** One path component of a Distribution repository name. */
export const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const PROJECT_NAME_MAX = 128;
export const REPOSITORY_NAME_MAX = 255;

export function isValidProjectName(name: string): boolean {
  return name.length >= 1 && name.length <= PROJECT_NAME_MAX && PATH_COMPONENT_RE.test(name);
}

export function isValidRepositoryName(name: string): boolean {
  if (name.length < 1 || name.length > REPOSITORY_NAME_MAX) return false;
  return name.split('/').every((c) => PATH_COMPONENT_RE.test(c));
}

/** `a/b/c` belongs to project `a`; a one-part name belongs to the default project. */
export function projectOf(repository: string, defaultProject: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? defaultProject : repository.slice(0, slash);
}
