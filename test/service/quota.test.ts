import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { firstRow, tablesOf } from '../../src/db/engine';
import { findProject } from '../../src/access/store';
import { projectStorageOf } from '../../src/storage/store';
import { inProcessApi, type ApiClient } from '../support/api-client';
import { startAppInstance, type AppInstance } from '../support/instance';
import { refused } from '../support/refusals';
import { admin } from '../support/wharf';

/** /api/v1/projects/{project}/quota in-process: usage from manifest_blobs (each blob once), the limit, who may read and set it. */

let running: AppInstance;
let api: ApiClient;
const OWNER = 'owner:owner-password-1';
const OUTSIDER = 'outsider:outsider-password-1';
let projectId: number;

beforeAll(async () => {
  running = await startAppInstance('wharf-quota-', 'admin-password-1');
  api = inProcessApi(running);
  for (const u of ['owner', 'outsider']) expect((await api.call('POST', '/api/v1/users', { auth: admin, body: { username: u, password: `${u}-password-1` } })).status).toBe(201);
  expect((await api.call('POST', '/api/v1/projects', { auth: OWNER, body: { name: 'team', public: true } })).status).toBe(201);
  projectId = (await findProject(api.deps.db, 'team'))!.id;
  const { repositories, manifests, manifestBlobs } = tablesOf(api.deps.db);
  const [a, b] = await api.deps.db.insert(repositories).values([{ name: 'team/a', projectId }, { name: 'team/b', projectId }]).returning();
  await api.deps.db.insert(manifests).values([
    { repositoryId: a!.id, digest: 'sha256:m1' },
    { repositoryId: b!.id, digest: 'sha256:m2' },
  ]);
  // Two manifests in two repositories sharing a layer (100) and a config (10): each blob counts once.
  await api.deps.db.insert(manifestBlobs).values([
    { repositoryId: a!.id, manifestDigest: 'sha256:m1', blobDigest: 'sha256:m1', size: 1 },
    { repositoryId: a!.id, manifestDigest: 'sha256:m1', blobDigest: 'sha256:layer', size: 100 },
    { repositoryId: a!.id, manifestDigest: 'sha256:m1', blobDigest: 'sha256:config', size: 10 },
    { repositoryId: b!.id, manifestDigest: 'sha256:m2', blobDigest: 'sha256:m2', size: 2 },
    { repositoryId: b!.id, manifestDigest: 'sha256:m2', blobDigest: 'sha256:layer', size: 100 },
    { repositoryId: b!.id, manifestDigest: 'sha256:m2', blobDigest: 'sha256:config', size: 10 },
    { repositoryId: b!.id, manifestDigest: 'sha256:m2', blobDigest: 'sha256:big', size: 5_000_000_000 },
    // Left behind by a manifest no longer there: not counted.
    { repositoryId: b!.id, manifestDigest: 'sha256:gone', blobDigest: 'sha256:stale', size: 777 },
  ]);
});

afterAll(async () => {
  await running?.stop();
});

const put = (body: unknown, auth = admin, project = 'team') => api.call('PUT', `/api/v1/projects/${project}/quota`, { auth, body });

describe('quota', () => {
  it('usage counts each distinct blob once across the project (past 32 bits), recomputed and stored with its time', async () => {
    expect(await api.deps.usage.recompute(projectId)).toBe(5_000_000_113);
    const row = await projectStorageOf(api.deps.db, projectId);
    expect(row).toMatchObject({ usedBytes: 5_000_000_113, usageAt: expect.any(String) });
    const r = await api.call('GET', '/api/v1/projects/team/quota', { auth: OWNER });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ limitBytes: null, usedBytes: 5_000_000_113 });
    const metrics = await api.deps.metrics.registry.getSingleMetricAsString('wharf_project_storage_used_bytes');
    expect(metrics).toContain('wharf_project_storage_used_bytes{project="team"} 5000000113');
  });

  it('a system admin sets and clears the limit, audited with old and new', async () => {
    const set = await put({ limitBytes: 2 ** 40 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({ limitBytes: 2 ** 40, usedBytes: 5_000_000_113 });
    expect((await api.call('GET', '/api/v1/projects/team/quota', { auth: admin })).body.limitBytes).toBe(2 ** 40);
    expect(await api.deps.metrics.registry.getSingleMetricAsString('wharf_project_quota_bytes')).toContain(`{project="team"} ${2 ** 40}`);
    const max = await put({ limitBytes: Number.MAX_SAFE_INTEGER });
    expect(max.body.limitBytes).toBe(Number.MAX_SAFE_INTEGER);
    const cleared = await put({ limitBytes: null });
    expect(cleared.body).toEqual({ limitBytes: null, usedBytes: 5_000_000_113 });
    const { audit } = tablesOf(api.deps.db);
    const rows = await api.deps.db.select().from(audit).where(eq(audit.action, 'quota_set'));
    expect(rows.map((r) => JSON.parse(r.detail!))).toEqual([
      { old: null, new: 2 ** 40 },
      { old: 2 ** 40, new: Number.MAX_SAFE_INTEGER },
      { old: Number.MAX_SAFE_INTEGER, new: null },
    ]);
    expect(rows[0]).toMatchObject({ username: 'admin', resource: 'team', project: 'team' });
  });

  it('refuses bad limits, non-admins and unknown projects with nothing changed', async () => {
    await put({ limitBytes: 1000 });
    const before = await projectStorageOf(api.deps.db, projectId);
    for (const limitBytes of [0, -1, 1.5, '1000', Number.MAX_SAFE_INTEGER + 2, 1e300, true, {}])
      await refused(api, 400, () => put({ limitBytes }));
    await refused(api, 400, () => put({}));
    await refused(api, 400, () => put({ limitBytes: 10, extra: 1 }));
    await refused(api, 400, () => put('{"limitBytes":'));
    await refused(api, 403, () => put({ limitBytes: 5 }, OWNER));
    await refused(api, 404, () => put({ limitBytes: 5 }, admin, 'nosuch'));
    expect(await projectStorageOf(api.deps.db, projectId)).toEqual(before);
    const { audit } = tablesOf(api.deps.db);
    expect((await api.deps.db.select().from(audit).where(eq(audit.action, 'quota_set'))).length).toBe(4);
  });

  it('members and admins read it; outsiders of a public project get 403, anonymous 401, unknown projects 404', async () => {
    expect((await api.call('GET', '/api/v1/projects/team/quota', { auth: OWNER })).body.limitBytes).toBe(1000);
    expect((await api.call('GET', '/api/v1/projects/team/quota', { auth: OUTSIDER })).status).toBe(403);
    expect((await api.call('GET', '/api/v1/projects/team/quota')).status).toBe(401);
    const missing = await api.call('GET', '/api/v1/projects/nosuch/quota', { auth: admin });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
  });

  it('the token endpoint refuses a push over the limit with the reason, and still issues pulls', async () => {
    const token = (scope: string) =>
      api.call('GET', `/service/token?service=${encodeURIComponent(api.deps.config.token.service)}&scope=${encodeURIComponent(scope)}`, { auth: OWNER });
    const push = await token('repository:team/a:pull,push');
    expect(push.status).toBe(403);
    expect(push.body.errors[0].message).toContain('over its storage quota');
    expect((await token('repository:team/a:pull')).status).toBe(200);
    const { projectStorage } = tablesOf(api.deps.db);
    expect(await firstRow(api.deps.db.select().from(projectStorage).where(eq(projectStorage.projectId, projectId)))).toMatchObject({ quotaLimitBytes: 1000 });
  });
});
