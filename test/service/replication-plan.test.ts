import { afterEach, describe, expect, it } from 'vitest';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import type { OpenDb } from '../../src/db/open';
import { planPull, planPush, policyMatches, taskDestination, type SourceListing } from '../../src/replication/plan';
import type { PolicyRow } from '../../src/replication/store';
import { projects } from '../support/tables';
import { openTestDatabase } from '../support/test-database';
import { eq } from 'drizzle-orm';

/**
 * Planning a policy: push from Wharf's tag state (seeded through the artifacts store, both
 * engines), pull from a source's listing (a recording SourceListing: which calls planning makes is
 * what is tested; the real registry's listing is RemoteRegistry's, tested with it).
 */

const opened: OpenDb[] = [];
afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
});

const at = '2026-01-01T00:00:00.000Z';
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function policy(overrides: Partial<PolicyRow> = {}): PolicyRow {
  return {
    id: 1, name: 'p', direction: 'push', registryId: 1, projectId: 0, filters: '{}', destination: null, override: true, deletions: false,
    triggerType: 'manual', triggerCron: null, replicateExisting: true, enabled: true, concurrency: 4, bandwidthKBps: null, description: null,
    createdBy: 'admin', createdAt: at, updatedAt: at, ...overrides,
  };
}

/** Tags `repository:tag` in the tag state, each on its own digest; returns the project id of `project`. */
async function seed(d: OpenDb, project: string, images: string[]): Promise<number> {
  let n = 0;
  for (const image of images) {
    const [repository, tag] = image.split(':') as [string, string];
    const repo = await ensureRepository(d.db, repository, 'library');
    await upsertManifest(d.db, repo.id, { digest: digest(++n), mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    await upsertTag(d.db, repo.id, { name: tag, digest: digest(n), pushedAt: at });
  }
  return (await d.db.select().from(projects).where(eq(projects.name, project)))[0]!.id;
}

describe('planPush', () => {
  it('every tag of every repository of the project, with its digest and destination; other projects untouched', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const team = await seed(d, 'team', ['team/app:v1', 'team/app:v2', 'team/sub/tool:latest', 'other/app:v1']);
    const tasks = await planPush(d.db, policy({ projectId: team }), 'team');
    expect(tasks).toEqual([
      { operation: 'copy', repository: 'team/app', tag: 'v1', digest: digest(1), destination: 'team/app' },
      { operation: 'copy', repository: 'team/app', tag: 'v2', digest: digest(2), destination: 'team/app' },
      { operation: 'copy', repository: 'team/sub/tool', tag: 'latest', digest: digest(3), destination: 'team/sub/tool' },
    ]);
    const elsewhere = await planPush(d.db, policy({ projectId: team, destination: 'backup/team' }), 'team');
    expect(elsewhere.map((t) => t.destination)).toEqual(['backup/team/app', 'backup/team/app', 'backup/team/sub/tool']);
  });

  it('repository globs match the name in the project, then tag globs; excludes after includes', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const team = await seed(d, 'team', ['team/app:v1', 'team/app:v1-rc1', 'team/app:dev', 'team/sub/tool:v2', 'team/tmp/x:v1', 'team/web:v3']);
    const filters = { repositories: ['app', 'sub/*', 'tmp/**'], excludeRepositories: ['tmp/**'], tags: ['v*'], excludeTags: ['*-rc*'] };
    const tasks = await planPush(d.db, policy({ projectId: team, filters: JSON.stringify(filters) }), 'team');
    expect(tasks.map((t) => `${t.repository}:${t.tag}`)).toEqual(['team/app:v1', 'team/sub/tool:v2']);
  });

  it('one-part names of the default project match as themselves and land under the destination', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const library = await seed(d, 'library', ['myapp:1', 'library/other:2']);
    const tasks = await planPush(d.db, policy({ projectId: library, filters: JSON.stringify({ repositories: ['myapp'] }) }), 'library');
    expect(tasks).toEqual([{ operation: 'copy', repository: 'myapp', tag: '1', digest: digest(1), destination: 'library/myapp' }]);
  });

  it('reads past a page: more tags than one page, across repositories, each once in order', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const names = [...Array.from({ length: 1500 }, (_, i) => `team/big:t${String(i).padStart(4, '0')}`), 'team/small:a', 'team/small:b'];
    const team = await seed(d, 'team', names);
    const tasks = await planPush(d.db, policy({ projectId: team }), 'team');
    expect(tasks.map((t) => `${t.repository}:${t.tag}`)).toEqual(names);
  });

  it('an empty project plans nothing', async () => {
    const d = await openTestDatabase();
    opened.push(d);
    const team = await seed(d, 'team', ['team/app:v1']);
    expect(await planPush(d.db, policy({ projectId: team + 1000 }), 'team')).toEqual([]);
  });
});

/** A source's listing that records what planning asked of it. */
function listing(repositories: Record<string, string[]>, opts: { refuseCatalog?: boolean } = {}) {
  const calls: string[] = [];
  const source: SourceListing = {
    catalog: () => {
      calls.push('catalog');
      return opts.refuseCatalog ? Promise.reject(new Error('catalog refused (401)')) : Promise.resolve(Object.keys(repositories));
    },
    tags: (repository) => {
      calls.push(`tags ${repository}`);
      return Promise.resolve(repositories[repository] ?? []);
    },
  };
  return { source, calls };
}

const pull = (filters: object) => policy({ direction: 'pull', filters: JSON.stringify(filters) });

describe('planPull', () => {
  it('literal repository names are used as they are, without the catalog (a registry that refuses it still plans)', async () => {
    const { source, calls } = listing({ 'mirror/x': ['1', '2'], 'y': ['latest'], 'mirror/z': ['9'] }, { refuseCatalog: true });
    const tasks = await planPull(pull({ repositories: ['mirror/x', 'y'] }), 'local', source);
    expect(calls).toEqual(['tags mirror/x', 'tags y']);
    expect(tasks).toEqual([
      { operation: 'copy', repository: 'mirror/x', tag: '1', digest: null, destination: 'local/x' },
      { operation: 'copy', repository: 'mirror/x', tag: '2', digest: null, destination: 'local/x' },
      { operation: 'copy', repository: 'y', tag: 'latest', digest: null, destination: 'local/y' },
    ]);
  });

  it('a glob (or no include at all) needs the catalog and matches full remote names', async () => {
    const remote = { 'mirror/x': ['1'], 'mirror/deep/y': ['2'], 'other/z': ['3'] };
    const one = listing(remote);
    expect((await planPull(pull({ repositories: ['mirror/*'] }), 'local', one.source)).map((t) => t.destination)).toEqual(['local/x']);
    expect(one.calls).toEqual(['catalog', 'tags mirror/x']);
    const all = listing(remote);
    expect((await planPull(pull({}), 'local', all.source)).map((t) => `${t.repository}>${t.destination}`)).toEqual([
      'mirror/deep/y>local/deep/y',
      'mirror/x>local/x',
      'other/z>local/z',
    ]);
    expect(all.calls[0]).toBe('catalog');
  });

  it('a glob on a registry that refuses the catalog fails with its reason', async () => {
    const { source } = listing({ 'mirror/x': ['1'] }, { refuseCatalog: true });
    await expect(planPull(pull({ repositories: ['mirror/*'] }), 'local', source)).rejects.toThrow(/catalog refused/);
  });

  it('literals and globs together: the catalog for the globs, the literals even when the catalog leaves them out; excludes and tag filters apply', async () => {
    const { source, calls } = listing({ 'a/one': ['v1', 'v1-rc', 'dev'], 'a/two': ['v2'], 'hidden/x': ['v3'] });
    const catalogWithoutHidden: SourceListing = { catalog: async () => (await source.catalog()).filter((n) => n !== 'hidden/x'), tags: source.tags };
    const tasks = await planPull(pull({ repositories: ['a/*', 'hidden/x'], excludeRepositories: ['a/two'], tags: ['v*'], excludeTags: ['*-rc'] }), 'local', catalogWithoutHidden);
    expect(tasks.map((t) => `${t.repository}:${t.tag}`)).toEqual(['a/one:v1', 'hidden/x:v3']);
    expect(calls).toEqual(['catalog', 'tags a/one', 'tags hidden/x']);
  });

  it("names outside the grammar in the source's listing are not planned: no path of theirs reaches the local registry", async () => {
    const hostile = listing({
      'mirror/ok': ['v1', '../../../other/app/manifests/v1', 'a?digest=x', 'b#c', 'x'.repeat(129), 7 as unknown as string],
      'mirror/../../victim/app': ['v1'],
      'mirror/%2e%2e/victim': ['v1'],
      'Mirror/Upper': ['v1'],
      'mirror//double': ['v1'],
    });
    const tasks = await planPull(pull({}), 'local', hostile.source);
    expect(tasks).toEqual([{ operation: 'copy', repository: 'mirror/ok', tag: 'v1', digest: null, destination: 'local/ok' }]);
  });

  it('a repository the source does not know plans nothing', async () => {
    const { source } = listing({});
    expect(await planPull(pull({ repositories: ['nowhere/x'] }), 'local', source)).toEqual([]);
  });
});

describe('one change at a time (what event triggers use)', () => {
  it('taskDestination: push under the destination (or the project), pull into the project', () => {
    expect(taskDestination(policy(), 'team', 'team/sub/app')).toBe('team/sub/app');
    expect(taskDestination(policy({ destination: 'backup' }), 'team', 'team/sub/app')).toBe('backup/sub/app');
    expect(taskDestination(policy({ direction: 'pull' }), 'local', 'mirror/x')).toBe('local/x');
  });

  it('policyMatches: push matches the name in the project, pull the remote name; tags after', () => {
    const push = policy({ filters: JSON.stringify({ repositories: ['sub/*'], excludeTags: ['dev'] }) });
    expect(policyMatches(push, 'team/sub/app', 'v1')).toBe(true);
    expect(policyMatches(push, 'team/sub/app', 'dev')).toBe(false);
    expect(policyMatches(push, 'team/app', 'v1')).toBe(false);
    expect(policyMatches(pull({ repositories: ['mirror/*'] }), 'mirror/x', 'v1')).toBe(true);
  });
});
