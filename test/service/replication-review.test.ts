import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { ReplicationTriggers } from '../../src/replication/triggers';
import { refused } from '../support/refusals';
import { uniqueName } from '../support/role-matrix';
import { registries } from '../support/tables';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * An attacker's (and a careless operator's) inputs to replication in-process: numbers past what
 * the engines store are 400s on both engines, never a 500 from a failed query; a cron that fires
 * while its last run is still going starts no second one.
 */

const suite = inProcessSuite('wharf-replication-review-');
const { call } = suite;
const db = () => suite.api.deps.db;

const PAST_INTEGER = 2 ** 31;

describe('ids and numbers past what the engines store', () => {
  it.each([
    `/api/v1/replication/executions/${PAST_INTEGER}`,
    `/api/v1/replication/executions/${Number.MAX_SAFE_INTEGER}/tasks`,
    `/api/v1/replication/executions?before=${PAST_INTEGER}`,
    `/api/v1/replication/executions/1/tasks?after=${PAST_INTEGER}`,
  ])('GET %s: 400', async (path) => {
    await refused(suite.api, 400, () => call('GET', path, { auth: admin }));
  });

  it.each(['stop', 'retry'])('POST an execution %s past the largest id: 400', async (action) => {
    await refused(suite.api, 400, () => call('POST', `/api/v1/replication/executions/${PAST_INTEGER}/${action}`, { auth: admin }));
  });

  it('a bandwidth limit past what the column holds: 400, nothing stored', async () => {
    const registry = uniqueName('target');
    await db().insert(registries).values({ name: registry, url: 'http://127.0.0.1:1', kind: 'distribution', createdBy: 'admin' });
    const project = uniqueName('team');
    expect((await call('POST', '/api/v1/projects', { auth: admin, body: { name: project } })).status).toBe(201);
    const body = { name: uniqueName('p'), direction: 'push', registry, project, trigger: { type: 'manual' }, replicateExisting: false, bandwidthKBps: PAST_INTEGER };
    await refused(suite.api, 400, () => call('POST', '/api/v1/replication/policies', { auth: admin, body }));
  });
});

/** A registry that accepts connections and never answers (a task against it stays running), and a project with tags to push. */
async function silentTargetAndProject(tags: string[], digest: string) {
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const registry = uniqueName('silent');
  await db().insert(registries).values({ name: registry, url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, kind: 'distribution', createdBy: 'admin' });
  const project = uniqueName('team');
  expect((await call('POST', '/api/v1/projects', { auth: admin, body: { name: project } })).status).toBe(201);
  const repo = await ensureRepository(db(), `${project}/app`, 'library');
  await upsertManifest(db(), repo.id, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  for (const tag of tags) await upsertTag(db(), repo.id, { name: tag, digest, pushedAt: new Date().toISOString() });
  return { registry, project, close: () => new Promise((resolve) => silent.close(resolve)) };
}

describe('a cron trigger faster than its runs', () => {
  it('fires every second while the execution it started hangs on its target: one execution, not one a second', async () => {
    const { registry, project, close } = await silentTargetAndProject(['v1'], `sha256:${'c'.repeat(64)}`);
    const name = uniqueName('every-second');
    const created = await call('POST', '/api/v1/replication/policies', {
      auth: admin,
      body: { name, direction: 'push', registry, project, trigger: { type: 'cron', cron: '* * * * * *' }, replicateExisting: false },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const triggers = new ReplicationTriggers(suite.api.deps);
    const scheduled = triggers.scheduler();
    try {
      await new Promise((resolve) => setTimeout(resolve, 3500));
    } finally {
      void scheduled.stop();
    }
    const list = await call('GET', `/api/v1/replication/executions?policy=${name}`, { auth: admin });
    expect(list.status).toBe(200);
    const executions = (list.body as { items: { id: number; trigger: string; finishedAt: string | null }[] }).items;
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({ trigger: 'cron', finishedAt: null });
    expect((await call('POST', `/api/v1/replication/executions/${executions[0]!.id}/stop`, { auth: admin })).status).toBe(202);
    await close();
  });
});

describe('a policy deleted while it runs', () => {
  it("stops its unfinished execution at once instead of failing each task with 'the policy was deleted'", async () => {
    const { registry, project, close } = await silentTargetAndProject(['v1', 'v2'], `sha256:${'d'.repeat(64)}`);
    const name = uniqueName('doomed');
    const created = await call('POST', '/api/v1/replication/policies', { auth: admin, body: { name, direction: 'push', registry, project, trigger: { type: 'manual' }, concurrency: 1 } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const list = await call('GET', `/api/v1/replication/executions?policy=${name}`, { auth: admin });
    const id = (list.body as { items: { id: number }[] }).items[0]!.id;
    expect((await call('DELETE', `/api/v1/replication/policies/${name}`, { auth: admin })).status).toBe(204);
    const after = await call('GET', `/api/v1/replication/executions/${id}`, { auth: admin });
    expect(after.body, JSON.stringify(after.body)).toMatchObject({ status: "stopped", failed: 0 });
    expect((after.body as { stopped: number }).stopped).toBeGreaterThan(0);
    await close();
  });
});
