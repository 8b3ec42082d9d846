/** The list scenarios' registry (see listShape in fixtures.ts), written straight into the database. */
import { count, sql } from 'drizzle-orm';
import { engineOf, tablesOf } from '../../src/db/engine';
import type { Db } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import { LIST_PROJECT, LIST_REPOSITORY, listShape, seededDigest, seededManifests } from './fixtures';

/** Rows per INSERT: at most seven columns each, under SQLite's bound-parameter limit. */
const BATCH = 2000;
/** Distinct manifests the big repository's tags point at. */
const LIST_DIGESTS = 100;

/**
 * Grows the list scenarios' registry to the shape of `totalTags` (fixtures.ts): rows inserted in
 * bulk, in batches, in one transaction. Answers how many tags and repositories it added.
 */
export async function seedLists(db: Db, totalTags: number): Promise<number> {
  const { projects, repositories, manifests, tags } = tablesOf(db);
  const shape = listShape(totalTags);
  const at = (i: number) => new Date(Date.parse('2024-01-01T00:00:00Z') + i * 1000).toISOString();
  const inBatches = async <T>(rows: T[], insert: (batch: T[]) => Promise<unknown>) => {
    for (let i = 0; i < rows.length; i += BATCH) await insert(rows.slice(i, i + BATCH));
  };
  const added = await transaction(db, async (tx) => {
    let project = (await tx.select({ id: projects.id }).from(projects).where(sql`${projects.name} = ${LIST_PROJECT}`))[0];
    if (!project) [project] = await tx.insert(projects).values({ name: LIST_PROJECT, createdBy: 'admin' }).returning({ id: projects.id });
    const projectId = project!.id;
    let big = (await tx.select({ id: repositories.id }).from(repositories).where(sql`${repositories.name} = ${LIST_REPOSITORY}`))[0];
    if (!big) {
      [big] = await tx.insert(repositories).values({ name: LIST_REPOSITORY, projectId, lastPushedAt: at(0) }).returning({ id: repositories.id });
      await tx.insert(manifests).values(seededManifests(big!.id, LIST_DIGESTS));
    }
    const bigId = big!.id;
    const [{ n: bigHas }] = (await tx.select({ n: count() }).from(tags).where(sql`${tags.repositoryId} = ${bigId}`)) as [{ n: number }];
    const newTags = Array.from({ length: Math.max(0, shape.bigRepositoryTags - Number(bigHas)) }, (_, k) => {
      const i = Number(bigHas) + k;
      return { repositoryId: bigId, name: `t${String(i).padStart(6, '0')}`, digest: seededDigest(i % LIST_DIGESTS), pushedAt: at(i), pushedBy: 'admin', pullCount: i % 13 };
    });
    await inBatches(newTags, (batch) => tx.insert(tags).values(batch));

    const [{ n: othersHave }] = (await tx.select({ n: count() }).from(repositories).where(sql`${repositories.projectId} = ${projectId} and ${repositories.id} <> ${bigId}`)) as [{ n: number }];
    const newRepositories = Array.from({ length: Math.max(0, shape.otherRepositories - Number(othersHave)) }, (_, k) => {
      const i = Number(othersHave) + k;
      return { name: `${LIST_PROJECT}/r${String(i).padStart(6, '0')}`, projectId, pullCount: i % 97, lastPushedAt: at(i) };
    });
    await inBatches(newRepositories, async (batch) => {
      const made = await tx.insert(repositories).values(batch).returning({ id: repositories.id });
      await tx.insert(manifests).values(made.map((r) => ({ repositoryId: r.id, digest: seededDigest(0), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1000 })));
      await tx.insert(tags).values(made.map((r, k) => ({ repositoryId: r.id, name: 'latest', digest: seededDigest(0), pushedAt: at(k), pushedBy: 'admin' })));
    });
    return newTags.length + newRepositories.length;
  });
  // PostgreSQL's autovacuum would vacuum and analyze tables this size within a minute; the bench does not wait for it.
  if (added > 0 && engineOf(db) === 'postgres') await (db as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`vacuum analyze tags, repositories, projects, manifests`);
  return added;
}

