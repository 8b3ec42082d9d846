import { count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { firstRow } from '../../src/db/engine';
import type { PolicyChange } from '../../src/replication/policies';
import type { PolicyRow } from '../../src/replication/store';
import { auditRows, expectAudit } from '../support/audit-trail';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, uniqueName } from '../support/role-matrix';
import { registries, replicationPolicies } from '../support/tables';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * /api/v1/replication/policies in-process (no registry is asked): create each kind, list, get,
 * change, delete, the filter preview, and every bad input refused with its 4xx and nothing stored.
 * The registries a policy names are rows put in through the table (their service is another's).
 */

const suite = inProcessSuite('wharf-replication-policies-');
const { call } = suite;
const db = () => suite.api.deps.db;
const PATH = '/api/v1/replication/policies';

/** A registry row; its URL is a closed port, so whatever would ask it fails at once. */
async function registryRow(name = uniqueName('target')): Promise<string> {
  await db().insert(registries).values({ name, url: 'http://127.0.0.1:1', kind: 'distribution', createdBy: 'admin' });
  return name;
}

async function project(name = uniqueName('team')): Promise<string> {
  const r = await call('POST', '/api/v1/projects', { auth: admin, body: { name } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return name;
}

async function policyCount(): Promise<number> {
  return (await firstRow(db().select({ n: count() }).from(replicationPolicies)))!.n;
}

async function arrange() {
  return { registry: await registryRow(), project: await project() };
}

const pushBody = (a: { registry: string; project: string }, extra: Record<string, unknown> = {}): Record<string, any> => ({
  name: uniqueName('push'),
  direction: 'push',
  registry: a.registry,
  project: a.project,
  trigger: { type: 'manual' },
  ...extra,
});

async function create(body: Record<string, unknown>) {
  const r = await call('POST', PATH, { auth: admin, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** A request that must be refused with `status`, storing no policy and changing nothing else. */
async function refusedPolicy(status: number, method: string, path: string, body?: unknown, auth: string | null = admin) {
  const before = await policyCount();
  const rowsBefore = await db().select().from(replicationPolicies);
  const r = await refused(suite.api, status, () => call(method, path, { auth: auth ?? undefined, body }));
  expect(await policyCount()).toBe(before);
  expect(await db().select().from(replicationPolicies)).toEqual(rowsBefore);
  return r;
}

describe('creating policies', () => {
  it('a push policy with every field: 201, the view, the row and a replication_policy_create audit row', async () => {
    const a = await arrange();
    const body = pushBody(a, {
      filters: { repositories: ['sub/**'], excludeRepositories: ['sub/tmp'], tags: ['v*'], excludeTags: ['*-rc*'] },
      destination: 'backup/team',
      override: false,
      deletions: true,
      trigger: { type: 'event' },
      replicateExisting: false,
      enabled: false,
      concurrency: 16,
      bandwidthKBps: 2048,
      description: 'to the other site',
    });
    const view = await create(body);
    expect(view).toEqual({
      name: body.name,
      direction: 'push',
      registry: a.registry,
      project: a.project,
      filters: body.filters,
      destination: 'backup/team',
      override: false,
      deletions: true,
      trigger: { type: 'event', cron: null },
      replicateExisting: false,
      enabled: false,
      concurrency: 16,
      bandwidthKBps: 2048,
      description: 'to the other site',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      createdBy: 'admin',
    });
    const row = (await db().select().from(replicationPolicies).where(eq(replicationPolicies.name, body.name)))[0]!;
    expect(JSON.parse(row.filters)).toEqual(body.filters);
    const audit = await expectAudit(suite.api, 'replication_policy_create', body.name, 'admin', a.project);
    expect(audit.resourceType).toBe('replication_policy');
    expect(JSON.parse(audit.detail!)).toMatchObject({ direction: 'push', registry: a.registry, destination: 'backup/team' });
  });

  it('defaults: override on, no deletions, a first run at creation, enabled, concurrency 4, no bandwidth limit, destination the project', async () => {
    const a = await arrange();
    const view = await create(pushBody(a));
    expect(view).toMatchObject({
      destination: a.project,
      override: true,
      deletions: false,
      replicateExisting: true,
      enabled: true,
      concurrency: 4,
      bandwidthKBps: null,
      description: null,
      filters: { repositories: [], excludeRepositories: [], tags: [], excludeTags: [] },
      trigger: { type: 'manual', cron: null },
    });
  });

  it('a pull policy (manual) and a cron policy (push and pull)', async () => {
    const a = await arrange();
    const pull = await create({ name: uniqueName('pull'), direction: 'pull', registry: a.registry, project: a.project, filters: { repositories: ['mirror/x', 'lib/*'] }, trigger: { type: 'manual' } });
    expect(pull).toMatchObject({ direction: 'pull', destination: null, filters: { repositories: ['mirror/x', 'lib/*'] } });
    const cronPush = await create(pushBody(a, { trigger: { type: 'cron', cron: '0 3 * * *' } }));
    expect(cronPush.trigger).toEqual({ type: 'cron', cron: '0 3 * * *' });
    const cronPull = await create({ name: uniqueName('pull'), direction: 'pull', registry: a.registry, project: a.project, trigger: { type: 'cron', cron: '*/10 * * * * *' } });
    expect(cronPull.trigger).toEqual({ type: 'cron', cron: '*/10 * * * * *' });
    expect(await auditRows(suite.api, 'replication_policy_create', cronPull.name)).toHaveLength(1);
  });
});

describe('reading policies', () => {
  it('GET lists them in name order with a total; GET {name} answers one; an unknown name is 404', async () => {
    const a = await arrange();
    const names = ['zz-last', 'aa-first'].map((n) => `${n}-${a.project}`);
    for (const name of names) await create(pushBody(a, { name }));
    const list = await call('GET', `${PATH}?pageSize=500`, { auth: admin });
    expect(list.status).toBe(200);
    const listed = (list.body.items as { name: string }[]).map((p) => p.name);
    expect(listed).toEqual([...listed].sort());
    expect(listed).toEqual(expect.arrayContaining(names));
    expect(list.body.total).toBe(await policyCount());
    const one = await call('GET', `${PATH}/${names[0]}`, { auth: admin });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ name: names[0], registry: a.registry, project: a.project });
    expectErrorShape(await call('GET', `${PATH}/no-such-policy`, { auth: admin }), 404);
  });
});

describe('changing policies', () => {
  it('PATCH changes any field but name and direction, checks the result whole, audits replication_policy_update', async () => {
    const a = await arrange();
    const other = await registryRow();
    const created = await create(pushBody(a));
    const patched = await call('PATCH', `${PATH}/${created.name}`, {
      auth: admin,
      body: { registry: other, filters: { tags: ['v*'] }, trigger: { type: 'cron', cron: '0 * * * *' }, concurrency: 2, bandwidthKBps: 100, destination: 'elsewhere', enabled: false, name: created.name },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({
      name: created.name,
      direction: 'push',
      registry: other,
      filters: { tags: ['v*'], repositories: [] },
      trigger: { type: 'cron', cron: '0 * * * *' },
      concurrency: 2,
      bandwidthKBps: 100,
      destination: 'elsewhere',
      enabled: false,
      createdAt: created.createdAt,
    });
    const audit = await expectAudit(suite.api, 'replication_policy_update', created.name, 'admin', a.project);
    expect(JSON.parse(audit.detail!).changed).toEqual(['bandwidthKBps', 'concurrency', 'destination', 'enabled', 'filters', 'name', 'registry', 'trigger']);
    // Clearing: back to manual, no limit, the default destination.
    const cleared = await call('PATCH', `${PATH}/${created.name}`, { auth: admin, body: { trigger: { type: 'manual' }, bandwidthKBps: null, destination: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ trigger: { type: 'manual', cron: null }, bandwidthKBps: null, destination: a.project, concurrency: 2 });
  });

  it('PATCH refusals: name or direction changed (400), a bad merged result (400, 422), unknown policy, registry or project (404); nothing changes', async () => {
    const a = await arrange();
    const push = await create(pushBody(a));
    const pull = await create({ name: uniqueName('pull'), direction: 'pull', registry: a.registry, project: a.project, trigger: { type: 'manual' } });
    await refusedPolicy(400, 'PATCH', `${PATH}/${push.name}`, { name: 'renamed' });
    await refusedPolicy(400, 'PATCH', `${PATH}/${push.name}`, { direction: 'pull' });
    await refusedPolicy(400, 'PATCH', `${PATH}/${push.name}`, { trigger: { type: 'cron', cron: 'every day' } });
    await refusedPolicy(400, 'PATCH', `${PATH}/${push.name}`, { filters: { tags: ['v[1'] } });
    await refusedPolicy(400, 'PATCH', `${PATH}/${pull.name}`, { destination: 'there' });
    await refusedPolicy(422, 'PATCH', `${PATH}/${pull.name}`, { trigger: { type: 'event' } });
    await refusedPolicy(404, 'PATCH', `${PATH}/no-such-policy`, { enabled: false });
    await refusedPolicy(404, 'PATCH', `${PATH}/${push.name}`, { registry: 'no-such-registry' });
    await refusedPolicy(404, 'PATCH', `${PATH}/${push.name}`, { project: 'no-such-project' });
  });
});

describe('deleting policies', () => {
  it('DELETE: 204, the row gone, audited replication_policy_delete; again 404', async () => {
    const a = await arrange();
    const created = await create(pushBody(a));
    const before = await policyCount();
    expect((await call('DELETE', `${PATH}/${created.name}`, { auth: admin })).status).toBe(204);
    expect(await policyCount()).toBe(before - 1);
    await expectAudit(suite.api, 'replication_policy_delete', created.name, 'admin', a.project);
    await refusedPolicy(404, 'DELETE', `${PATH}/${created.name}`);
  });
});

describe('bad input: a clear 4xx and nothing stored', () => {
  it('names, direction, registry, project, duplicates', async () => {
    const a = await arrange();
    for (const name of ['', 'Upper', 'has space', 'a/b', '-lead', 'x'.repeat(129)]) await refusedPolicy(400, 'POST', PATH, pushBody(a, { name }));
    await refusedPolicy(400, 'POST', PATH, pushBody(a, { direction: 'sideways' }));
    const unknownRegistry = await refusedPolicy(404, 'POST', PATH, pushBody(a, { registry: 'no-such-registry' }));
    expect(unknownRegistry.body.error.message).toBe('registry no-such-registry not found');
    const unknownProject = await refusedPolicy(404, 'POST', PATH, pushBody(a, { project: 'no-such-project' }));
    expect(unknownProject.body.error.message).toBe('project no-such-project not found');
    const taken = await create(pushBody(a));
    await refusedPolicy(409, 'POST', PATH, pushBody(a, { name: taken.name }));
    await refusedPolicy(400, 'POST', PATH, { ...pushBody(a), unknownField: 1 });
  });

  it('globs: each bad one is 400 naming the field and the glob', async () => {
    const a = await arrange();
    const bad: [string, string][] = [
      ['repositories', ''],
      ['repositories', '/abs'],
      ['repositories', 'a/../b'],
      ['repositories', 'Upper/case'],
      ['excludeRepositories', 'team[1'],
      ['tags', 'v{1,2'],
      ['tags', 'has/slash'],
      ['excludeTags', 'a b'],
      ['tags', 'x'.repeat(257)],
    ];
    for (const [field, glob] of bad) {
      const r = await refusedPolicy(400, 'POST', PATH, pushBody(a, { filters: { [field]: [glob] } }));
      if (glob.length <= 256) expect(r.body.error.message, glob).toContain(`filters.${field}: invalid glob ${glob}`);
    }
  });

  it('triggers: cron without or with a bad expression, a cron on another trigger (400), pull with event (422)', async () => {
    const a = await arrange();
    const noCron = await refusedPolicy(400, 'POST', PATH, pushBody(a, { trigger: { type: 'cron' } }));
    expect(noCron.body.error.message).toMatch(/needs trigger\.cron/);
    for (const cron of ['every day', '* * *', '61 * * * *', '0 0 0 * * * *'])
      expect((await refusedPolicy(400, 'POST', PATH, pushBody(a, { trigger: { type: 'cron', cron } }))).body.error.message, cron).toMatch(/invalid cron expression/);
    await refusedPolicy(400, 'POST', PATH, pushBody(a, { trigger: { type: 'manual', cron: '0 3 * * *' } }));
    await refusedPolicy(400, 'POST', PATH, pushBody(a, { trigger: { type: 'event', cron: '0 3 * * *' } }));
    await refusedPolicy(400, 'POST', PATH, pushBody(a, { trigger: { type: 'hourly' } }));
    const event = await refusedPolicy(422, 'POST', PATH, { ...pushBody(a), direction: 'pull', trigger: { type: 'event' } });
    expect(event.body.error.message).toMatch(/pull policy cannot have an event trigger/);
  });

  it('destination (push only, namespace grammar), deletions on pull, concurrency 1..16, bandwidth a positive integer or null', async () => {
    const a = await arrange();
    for (const destination of ['Upper', 'a//b', '/lead', 'trail/', 'a b', 'x'.repeat(256)]) await refusedPolicy(400, 'POST', PATH, pushBody(a, { destination }));
    const onPull = await refusedPolicy(400, 'POST', PATH, { ...pushBody(a), direction: 'pull', destination: 'there' });
    expect(onPull.body.error.message).toMatch(/only for push policies/);
    await refusedPolicy(400, 'POST', PATH, { ...pushBody(a), direction: 'pull', deletions: true });
    for (const concurrency of [0, 17, 2.5, -1, '4']) await refusedPolicy(400, 'POST', PATH, pushBody(a, { concurrency }));
    for (const bandwidthKBps of [0, -5, 1.5, '100']) await refusedPolicy(400, 'POST', PATH, pushBody(a, { bandwidthKBps }));
    expect((await create(pushBody(a, { concurrency: 1, bandwidthKBps: null, destination: 'mirror/sub-team' }))).concurrency).toBe(1);
  });
});

describe('who may', () => {
  it('system admins only: anonymous 401, users (even the project admin) and robots 403, on every policy endpoint', async () => {
    const a = await arrange();
    const created = await create(pushBody(a));
    const robot = await call('POST', `/api/v1/projects/${a.project}/robots`, { auth: admin, body: { name: 'ci', permissions: ['pull', 'push'] } });
    expect(robot.status).toBe(201);
    const robotAuth = `${robot.body.name}:${robot.body.secret}`;
    const requests: [string, string, unknown?][] = [
      ['POST', PATH, pushBody(a)],
      ['POST', `${PATH}/preview`, pushBody(a)],
      ['GET', PATH],
      ['GET', `${PATH}/${created.name}`],
      ['PATCH', `${PATH}/${created.name}`, { enabled: false }],
      ['DELETE', `${PATH}/${created.name}`],
    ];
    for (const [method, path, body] of requests) {
      await refusedPolicy(401, method, path, body, null);
      await refusedPolicy(403, method, path, body, CAST.projectAdmin);
      await refusedPolicy(403, method, path, body, CAST.outsider);
      await refusedPolicy(403, method, path, body, robotAuth);
    }
  });
});

describe('the runner seam', () => {
  it('deps.replication.policyChanged hears created, updated and deleted after commit, with the row; its failure is logged, the change stands', async () => {
    const a = await arrange();
    const heard: { name: string; change: PolicyChange; stored: boolean }[] = [];
    const deps = suite.api.deps;
    deps.replication = {
      async policyChanged(policy: PolicyRow, change: PolicyChange) {
        // After commit: another connection (the runner's) sees the change already.
        const stored = (await db().select().from(replicationPolicies).where(eq(replicationPolicies.id, policy.id))).length === 1;
        heard.push({ name: policy.name, change, stored });
      },
    };
    try {
      const created = await create(pushBody(a));
      expect((await call('PATCH', `${PATH}/${created.name}`, { auth: admin, body: { enabled: false } })).status).toBe(200);
      expect((await call('DELETE', `${PATH}/${created.name}`, { auth: admin })).status).toBe(204);
      expect(heard).toEqual([
        { name: created.name, change: 'created', stored: true },
        { name: created.name, change: 'updated', stored: true },
        { name: created.name, change: 'deleted', stored: false },
      ]);
      deps.replication = { policyChanged: () => Promise.reject(new Error('runner down')) };
      const still = await create(pushBody(a));
      expect((await call('GET', `${PATH}/${still.name}`, { auth: admin })).status).toBe(200);
    } finally {
      delete deps.replication;
    }
  });
});

describe('filter preview', () => {
  it('POST /preview answers the tasks a push would plan (first 100, and the total) and stores nothing', async () => {
    const a = await arrange();
    const at = new Date().toISOString();
    for (let i = 0; i < 120; i++) {
      const repo = await ensureRepository(db(), `${a.project}/${i % 2 ? 'web' : 'sub/api'}`, 'library');
      const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
      await upsertManifest(db(), repo.id, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
      await upsertTag(db(), repo.id, { name: `v${i}`, digest, pushedAt: at });
    }
    const before = await policyCount();
    const all = await call('POST', `${PATH}/preview`, { auth: admin, body: pushBody(a, { destination: 'dr' }) });
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body.total).toBe(120);
    expect(all.body.items).toHaveLength(100);
    expect(all.body.items[0]).toEqual({ operation: 'copy', repository: `${a.project}/sub/api`, tag: 'v0', digest: `sha256:${'0'.repeat(64)}`, destination: 'dr/sub/api' });
    const filtered = await call('POST', `${PATH}/preview`, { auth: admin, body: pushBody(a, { filters: { repositories: ['web'], tags: ['v1*'], excludeTags: ['v11*'] } }) });
    expect(filtered.status).toBe(200);
    expect((filtered.body.items as { tag: string }[]).map((t) => t.tag).sort()).toEqual(['v1', 'v101', 'v103', 'v105', 'v107', 'v109', 'v13', 'v15', 'v17', 'v19']);
    expect(filtered.body.total).toBe(10);
    expect(await policyCount()).toBe(before);
    // A name is not needed, and one already taken is no conflict: nothing is stored.
    const taken = await create(pushBody(a));
    expect((await call('POST', `${PATH}/preview`, { auth: admin, body: pushBody(a, { name: taken.name }) })).status).toBe(200);
    const { name: _name, ...unnamed } = pushBody(a);
    expect((await call('POST', `${PATH}/preview`, { auth: admin, body: unnamed })).status).toBe(200);
  });

  it('preview refusals: bad input as for create; a pull from a registry that cannot be listed is 422 naming it', async () => {
    const a = await arrange();
    await refusedPolicy(400, 'POST', `${PATH}/preview`, pushBody(a, { filters: { tags: ['['] } }));
    await refusedPolicy(404, 'POST', `${PATH}/preview`, pushBody(a, { registry: 'no-such-registry' }));
    const r = await refusedPolicy(422, 'POST', `${PATH}/preview`, { ...pushBody(a), direction: 'pull', filters: { repositories: ['mirror/x'] } });
    expect(r.body.error.message).toContain(`could not list the repositories of registry ${a.registry}`);
  });
});
