import type { Ctx } from '../context';
import type { Tx } from '../db/open';
import type { PageRequest } from '../db/paged';
import { notFound } from '../errors';
import type { Principal } from '../identity/principal';
import { listingScope, roleIn, seesProject, visibleProject } from '../access/projects';
import { projectWithId, type ProjectScope } from '../access/store';
import type { Role } from '../access/roles';
import { findRepository, pageOfRepositories, pageOfTags, type Repository } from './store';

export async function listRepositories(ctx: Pick<Ctx, 'db' | 'principal'>, opts: { project?: string; q?: string } & PageRequest) {
  const { db, principal } = ctx;
  const scope: ProjectScope = opts.project ? { only: (await visibleProject(db, principal, opts.project)).project.id } : listingScope(principal);
  return pageOfRepositories(db, scope, opts);
}

export interface RepositoryAccess {
  repository: Repository;
  projectName: string;
  role: Role | null;
}

/** A repository the principal can see, else 404 (a private project's repositories are not revealed). */
export async function visibleRepository(db: Tx, principal: Principal, name: string): Promise<RepositoryAccess> {
  const repository = await findRepository(db, name);
  const project = repository ? await projectWithId(db, repository.projectId) : undefined;
  if (!repository || !project) throw notFound('repository.notFound', { name });
  const role = await roleIn(db, principal, project.id);
  if (!seesProject(principal, project, role)) throw notFound('repository.notFound', { name });
  return { repository, projectName: project.name, role };
}

/** The tags of a repository; accessory tags (sha256-<hex>.sig|.att|.sbom) only with `accessories`. */
export async function listTags(ctx: Pick<Ctx, 'db' | 'principal'>, name: string, opts: { q?: string; accessories?: boolean } & PageRequest) {
  const { repository } = await visibleRepository(ctx.db, ctx.principal, name);
  const { accessories, ...rest } = opts;
  const page = await pageOfTags(ctx.db, repository, { ...rest, hideAccessories: !accessories });
  const items = page.items.map(({ children, platform, ...t }) => ({
    ...t,
    platforms: children
      ? (JSON.parse(children) as { platform: unknown }[]).map((c) => c.platform).filter((p) => p !== null)
      : platform
        ? [JSON.parse(platform)]
        : [],
  }));
  return { items, total: page.total };
}
