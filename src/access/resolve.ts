import type { Tx } from '../db/open';
import type { Principal } from '../identity/principal';
import { projectAndRole } from './projects';
import { robotCovers } from './system-robots';
import { allowedActions, isValidProjectName, projectOf, type RepositoryAction } from './roles';

/**
 * What a principal may do to a repository. `memo` lets one token request with many scopes of the
 * same project look the project up once.
 */
export async function repositoryActions(
  db: Tx,
  principal: Principal,
  repository: string,
  defaultProject: string,
  memo: Map<string, RepositoryAction[]> = new Map(),
): Promise<RepositoryAction[]> {
  const projectName = projectOf(repository, defaultProject);
  // A robot acts on its own project only, with the permissions it was given.
  if (principal.kind === 'robot') return projectName === principal.projectName ? [...principal.permissions] : [];
  const known = memo.get(projectName);
  if (known) return known;
  // A system robot gets exactly its permissions on the existing projects it covers, nothing elsewhere.
  if (principal.kind === 'system-robot' && !robotCovers(principal, projectName)) return [];
  const found = await projectAndRole(db, principal, projectName);
  if (principal.kind === 'system-robot') {
    const actions = found ? [...principal.permissions] : [];
    memo.set(projectName, actions);
    return actions;
  }
  const project = found?.project;
  let actions = allowedActions({
    admin: principal.admin,
    role: found?.role ?? null,
    projectPublic: project?.public ?? false,
    projectExists: !!project,
  });
  // A push into a project that does not exist creates it; never one the API could not manage
  // (too long or malformed), not even for system admins.
  if (!project && !isValidProjectName(projectName)) actions = actions.filter((a) => a !== 'push');
  memo.set(projectName, actions);
  return actions;
}
