import { count, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { listRepositories, listTags } from '../../src/artifacts/list';
import { dropRepositoryIfEmpty, ensureRepository, findRepository, removeManifest, removeTag, upsertManifest, upsertTag } from '../../src/artifacts/store';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import type { Principal } from '../../src/identity/principal';
import { projects, repositories, tags } from '../support/tables';
import { openTestDatabase } from '../support/test-database';

/**
 * The tag and repository listings read counts the database keeps (repositories.tag_count,
 * projects.repository_count, triggers of migration list_count_triggers) instead of counting rows:
 * after every kind of write those counts must equal the rows.
 */

const opened: OpenDb[] = [];
afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
});

const admin: Principal = { kind: 'user', id: 1, username: 'admin', admin: true, source: 'local', via: 'password' };
const at = '2026-01-01T00:00:00.000Z';
const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

async function keptEqualsCounted({ db }: OpenDb): Promise<void> {
  for (const r of await db.select().from(repositories)) {
    const [{ n }] = (await db.select({ n: count() }).from(tags).where(eq(tags.repositoryId, r.id))) as [{ n: number }];
    expect(r.tagCount, `tag_count of ${r.name}`).toBe(Number(n));
  }
  for (const p of await db.select().from(projects)) {
    const [{ n }] = (await db.select({ n: count() }).from(repositories).where(eq(repositories.projectId, p.id))) as [{ n: number }];
    expect(p.repositoryCount, `repository_count of ${p.name}`).toBe(Number(n));
  }
}

describe('kept list counts', () => {
  it('follow tag pushes, moves, deletions, bulk inserts and repository drops, and the listings answer them', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const { db } = d;
    const app = await transaction(db, (tx) => ensureRepository(tx, 'team/app', 'library'));
    const other = await transaction(db, (tx) => ensureRepository(tx, 'team/other', 'library'));
    await transaction(db, async (tx) => {
      for (const n of [1, 2]) await upsertManifest(tx, app.id, { digest: digest(n), pushedAt: at });
      await upsertTag(tx, app.id, { name: 'v1', digest: digest(1), pushedAt: at });
      await upsertTag(tx, app.id, { name: 'v2', digest: digest(1), pushedAt: at });
      // A tag moved to another digest is still one tag.
      await upsertTag(tx, app.id, { name: 'v1', digest: digest(2), pushedAt: at });
      await upsertTag(tx, app.id, { name: 'latest', digest: digest(2), pushedAt: at });
    });
    await keptEqualsCounted(d);
    expect((await findRepository(db, 'team/app'))!.tagCount).toBe(3);

    await db.insert(tags).values(Array.from({ length: 120 }, (_, i) => ({ repositoryId: other.id, name: `b${i}`, digest: digest(3), pushedAt: at })));
    await keptEqualsCounted(d);
    expect((await listTags({ db, principal: admin }, 'team/other', { page: 1, pageSize: 10 })).total).toBe(120);
    expect((await listTags({ db, principal: admin }, 'team/other', { q: 'b11', page: 1, pageSize: 10 })).total).toBe(11);

    await transaction(db, async (tx) => {
      expect(await removeTag(tx, app.id, 'v2')).toBe(1);
      expect((await removeManifest(tx, app.id, digest(2))).sort()).toEqual(['latest', 'v1']);
    });
    await keptEqualsCounted(d);
    expect((await listTags({ db, principal: admin }, 'team/app', { page: 1, pageSize: 10 })).total).toBe(0);

    // A repository moved to another project, and one dropped with its tags (the foreign key's cascade).
    const [elsewhere] = await db.insert(projects).values({ name: 'elsewhere' }).returning();
    await db.update(repositories).set({ projectId: elsewhere!.id }).where(eq(repositories.id, other.id));
    await keptEqualsCounted(d);
    await transaction(db, async (tx) => {
      await removeManifest(tx, app.id, digest(1));
      expect(await dropRepositoryIfEmpty(tx, app.id)).toBe(true);
    });
    await db.delete(repositories).where(eq(repositories.id, other.id));
    await keptEqualsCounted(d);

    await transaction(db, (tx) => ensureRepository(tx, 'team/third', 'library'));
    await transaction(db, (tx) => ensureRepository(tx, 'team/fourth', 'library'));
    const page = await listRepositories({ db, principal: admin }, { page: 1, pageSize: 1 });
    expect(page.total).toBe(2);
    expect((await listRepositories({ db, principal: admin }, { q: 'fourth', page: 1, pageSize: 1 })).total).toBe(1);
    await keptEqualsCounted(d);
  });
});
