import { isValidRepositoryName } from '../access/roles';
import type { Db } from '../db/open';
import { TAG_RE } from '../events/envelope';
import { compileFilters, isGlob, type FilterMatchers, type Filters } from './filters';
import { nameInProject, pullLocalName, pushDestination } from './names';
import { pageOfProjectTags, type PolicyRow, type TagCursor } from './store';

/** One task of a replication execution: its payload in job_tasks. */
export interface PlannedTask {
  operation: 'copy' | 'delete';
  /** Where the image is read: the local repository (push), the remote one (pull). */
  repository: string;
  tag: string;
  /** The tag's digest when Wharf knows it (push); null when only the source can say (pull). */
  digest: string | null;
  /** Where the image is written: the repository at the target (push), the local one (pull). */
  destination: string;
}

/** What planning a pull needs of the source registry: RemoteRegistry satisfies it. */
export interface SourceListing {
  catalog(): Promise<string[]>;
  tags(repository: string): Promise<string[]>;
}

/** Tags read from the tag state per query. */
const TAG_PAGE = 1000;

/** The filters a policy row holds (JSON); anything unreadable counts as no filter. */
export function policyFilters(policy: Pick<PolicyRow, 'filters'>): Filters {
  try {
    const parsed = JSON.parse(policy.filters) as Filters;
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/** The namespace a push policy writes into at the target: its destination, else the project's name. */
export const pushNamespace = (policy: Pick<PolicyRow, 'destination'>, project: string): string => policy.destination || project;

/** Where a policy's task for `repository` writes: the target repository (push) or the local one (pull). */
export const taskDestination = (policy: Pick<PolicyRow, 'direction' | 'destination'>, project: string, repository: string): string =>
  policy.direction === 'push' ? pushDestination(repository, pushNamespace(policy, project)) : pullLocalName(repository, project);

/** Whether a change of `repository:tag` (an event, for push policies) passes the policy's filters. */
export function policyMatches(policy: Pick<PolicyRow, 'direction' | 'filters'>, repository: string, tag: string): boolean {
  const match = compileFilters(policyFilters(policy));
  return match.repository(policy.direction === 'push' ? nameInProject(repository) : repository) && match.tag(tag);
}

/**
 * Every tag of the project's repositories that passes the policy's filters, as copy tasks, from
 * Wharf's tag state (read a page at a time). Deletions are not planned: they come from events.
 */
export async function planPush(db: Db, policy: PolicyRow, project: string): Promise<PlannedTask[]> {
  const match = compileFilters(policyFilters(policy));
  const namespace = pushNamespace(policy, project);
  const tasks: PlannedTask[] = [];
  // One decision per repository, not per tag.
  let current = null as { id: number; passes: boolean; destination: string } | null;
  let after: TagCursor | null = null;
  for (;;) {
    const page = await pageOfProjectTags(db, policy.projectId, after, TAG_PAGE);
    for (const row of page) {
      if (current?.id !== row.repositoryId)
        current = { id: row.repositoryId, passes: match.repository(nameInProject(row.repository)), destination: pushDestination(row.repository, namespace) };
      if (current.passes && match.tag(row.tag))
        tasks.push({ operation: 'copy', repository: row.repository, tag: row.tag, digest: row.digest, destination: current.destination });
    }
    if (page.length < TAG_PAGE) return tasks;
    const last = page[page.length - 1]!;
    after = { repositoryId: last.repositoryId, tag: last.tag };
  }
}

/**
 * The remote repositories a pull policy reads: its literal names as they are (many registries
 * refuse the catalog), the catalog only when a glob (or no include at all) asks for it.
 */
async function pullRepositories(filters: Filters, match: FilterMatchers, remote: SourceListing): Promise<string[]> {
  const includes = filters.repositories ?? [];
  const literals = includes.filter((g) => !isGlob(g));
  const needsCatalog = includes.length === 0 || literals.length < includes.length;
  const names = new Set(literals);
  if (needsCatalog) for (const name of await remote.catalog()) names.add(name);
  // The source's listing is its word only: a name outside the grammar (`..`, `%2e`, a non-string) would be a path at the local registry, not a repository.
  return [...names].filter((name) => typeof name === 'string' && isValidRepositoryName(name) && match.repository(name)).sort();
}

/** Every tag of the matching remote repositories that passes the tag filters, as copy tasks into the project. */
export async function planPull(policy: PolicyRow, project: string, remote: SourceListing): Promise<PlannedTask[]> {
  const filters = policyFilters(policy);
  const match = compileFilters(filters);
  const tasks: PlannedTask[] = [];
  for (const repository of await pullRepositories(filters, match, remote)) {
    const destination = pullLocalName(repository, project);
    for (const tag of [...(await remote.tags(repository))].filter((t) => typeof t === 'string' && TAG_RE.test(t)).sort())
      if (match.tag(tag)) tasks.push({ operation: 'copy', repository, tag, digest: null, destination });
  }
  return tasks;
}
