/**
 * How replication names repositories (API.md "Names and globs"): a repository `a/b/c` belongs to
 * project `a` and is `b/c` within it; a one-part name belongs to the default project and is itself.
 */

/** The name a push policy's repository globs match: `team/sub/app` → `sub/app`; a one-part name stays itself. */
export function nameInProject(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(slash + 1);
}

/** Where a push policy puts a local repository at the target: the project's name replaced by `destination`. */
export const pushDestination = (repository: string, destination: string): string => `${destination}/${nameInProject(repository)}`;

/** The local repository a pull policy fills: the remote name's first component replaced by the project (`mirror/x` → `<project>/x`; `x` → `<project>/x`). */
export const pullLocalName = (remoteRepository: string, project: string): string => `${project}/${nameInProject(remoteRepository)}`;
