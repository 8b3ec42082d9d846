import { and, asc, count, desc, eq, or, sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { readPage, type PageRequest } from '../db/paged';
import { manifests, projects, repositories, tags } from '../db/schema';
import { contains } from '../db/search';
import { notFound } from '../errors';
import type { Principal } from '../identity/principal';
import { roleIn, seesProject, visibleProject } from '../access/projects';
import { memberOfProject } from '../access/store';
import type { Role } from '../access/roles';
import { findRepository, type Repository } from './state';

/** Projects the principal can see, as an SQL condition on `projects`. */
export function visibleProjectsCondition(db: Tx, principal: Principal): SQL | undefined {
  if (principal.admin) return undefined;
  if (principal.kind === 'robot') return eq(projects.id, principal.projectId);
  if (principal.kind !== 'user') return eq(projects.public, true);
  return or(eq(projects.public, true), memberOfProject(db, principal.id));
}

export async function listRepositories(db: Tx, principal: Principal, opts: { project?: string; q?: string } & PageRequest) {
  const conditions: (SQL | undefined)[] = [];
  if (opts.project) conditions.push(eq(projects.id, (await visibleProject(db, principal, opts.project)).project.id));
  else conditions.push(visibleProjectsCondition(db, principal));
  if (opts.q) conditions.push(contains(repositories.name, opts.q));
  const where = and(...conditions);
  const tagCount = sql<number>`(select count(*) from ${tags} where ${tags.repositoryId} = ${repositories.id})`;
  return readPage(
    db
      .select({
        name: repositories.name,
        project: projects.name,
        tagCount,
        pullCount: repositories.pullCount,
        lastPushedAt: repositories.lastPushedAt,
        lastPulledAt: repositories.lastPulledAt,
      })
      .from(repositories)
      .innerJoin(projects, eq(projects.id, repositories.projectId))
      .where(where)
      .orderBy(asc(repositories.name)),
    db.select({ n: count() }).from(repositories).innerJoin(projects, eq(projects.id, repositories.projectId)).where(where),
    opts,
  );
}

export interface RepositoryAccess {
  repository: Repository;
  projectName: string;
  role: Role | null;
}

/** A repository the principal can see, else 404 (a private project's repositories are not revealed). */
export async function visibleRepository(db: Tx, principal: Principal, name: string): Promise<RepositoryAccess> {
  const repository = await findRepository(db, name);
  const project = repository ? await db.select().from(projects).where(eq(projects.id, repository.projectId)).get() : undefined;
  if (!repository || !project) throw notFound('repository.notFound', { name });
  const role = await roleIn(db, principal, project.id);
  if (!seesProject(principal, project, role)) throw notFound('repository.notFound', { name });
  return { repository, projectName: project.name, role };
}

export async function listTags(db: Tx, principal: Principal, name: string, opts: { q?: string } & PageRequest) {
  const { repository } = await visibleRepository(db, principal, name);
  const where = and(eq(tags.repositoryId, repository.id), opts.q ? contains(tags.name, opts.q) : undefined);
  const page = await readPage(
    db
      .select({
        name: tags.name,
        digest: tags.digest,
        mediaType: manifests.mediaType,
        size: manifests.size,
        children: manifests.children,
        platform: manifests.platform,
        pushedAt: tags.pushedAt,
        pushedBy: tags.pushedBy,
        pullCount: tags.pullCount,
        lastPulledAt: tags.lastPulledAt,
      })
      .from(tags)
      .leftJoin(manifests, and(eq(manifests.repositoryId, tags.repositoryId), eq(manifests.digest, tags.digest)))
      .where(where)
      .orderBy(desc(tags.pushedAt), asc(tags.name)),
    db.select({ n: count() }).from(tags).where(where),
    opts,
  );
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
