import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** A policy run end to end: Wharf's registry → a plain registry, through the API, by the job runner. */

let work: string;
let target: PlainRegistry;
let w: TestWharf;
let image: BuiltImage;

async function waitFinished(id: number, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await w.api('GET', `/api/v1/replication/executions/${id}`, { auth: admin });
    expect(r.status).toBe(200);
    if (!['pending', 'running'].includes(r.body.status)) return r.body;
    if (Date.now() > until) throw new Error(`execution ${id} still ${r.body.status}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-repl-run-'));
  [target, w, image] = await Promise.all([startPlainRegistry(), startTestWharf({ replication: { debounceMs: 200 } }), buildImage(path.join(work, 'image'), { tag: 'v1' })]);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  for (const tag of ['v1', 'v2']) {
    const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/team/app:${tag}`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
  }
  expect((await w.api('POST', '/api/v1/registries', { auth: admin, body: { name: 'plain', url: target.url, kind: 'distribution' } })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await Promise.all([target?.stop(), w?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('a push policy through the API', () => {
  it('a new policy copies what exists at once; a dry run lists the same tasks and copies nothing', async () => {
    const created = await w.api('POST', '/api/v1/replication/policies', {
      auth: admin,
      body: { name: 'to-plain', direction: 'push', registry: 'plain', project: 'team', destination: 'mirror', filters: { tags: ['v*'] }, trigger: { type: 'manual' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const list = await w.api('GET', '/api/v1/replication/executions?policy=to-plain', { auth: admin });
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].trigger).toBe('creation');
    const done = await waitFinished(list.body.items[0].id);
    expect(done).toMatchObject({ status: 'succeeded', total: 2, succeeded: 2, failed: 0 });
    const inspect = await skopeoInspect(`docker://${target.host}/mirror/app:v2`);
    expect(inspect.code, inspect.stderr).toBe(0);

    const dry = await w.api('POST', '/api/v1/replication/policies/to-plain/executions', { auth: admin, body: { dryRun: true } });
    expect(dry.status, JSON.stringify(dry.body)).toBe(202);
    expect(dry.body).toMatchObject({ dryRun: true, status: 'succeeded', total: 2, skipped: 2 });
    const dryTasks = await w.api('GET', `/api/v1/replication/executions/${dry.body.id}/tasks`, { auth: admin });
    const realTasks = await w.api('GET', `/api/v1/replication/executions/${done.id}/tasks`, { auth: admin });
    const shape = (t: any) => [t.operation, t.repository, t.tag, t.destination];
    expect(dryTasks.body.items.map(shape)).toEqual(realTasks.body.items.map(shape));
    expect(dryTasks.body.items.every((t: any) => t.status === 'skipped' && t.reason === 'dry_run')).toBe(true);

    const again = await w.api('POST', '/api/v1/replication/policies/to-plain/executions', { auth: admin });
    expect(again.status).toBe(202);
    const second = await waitFinished(again.body.id);
    expect(second).toMatchObject({ status: 'succeeded', skipped: 2 });
  });

  it('an event-triggered policy replicates a push within seconds, and a tag deleted through Wharf', async () => {
    const created = await w.api('POST', '/api/v1/replication/policies', {
      auth: admin,
      body: { name: 'on-push', direction: 'push', registry: 'plain', project: 'team', destination: 'events', deletions: true, replicateExisting: false, trigger: { type: 'event' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/team/app:v3`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
    const until = Date.now() + 20_000;
    for (;;) {
      if ((await skopeoInspect(`docker://${target.host}/events/app:v3`)).code === 0) break;
      if (Date.now() > until) throw new Error('the push did not reach the target');
      await new Promise((res) => setTimeout(res, 300));
    }
    const del = await w.api('DELETE', '/api/v1/repositories/team%2Fapp/tags/v3', { auth: admin });
    expect(del.status).toBe(204);
    const gone = Date.now() + 20_000;
    for (;;) {
      if ((await skopeoInspect(`docker://${target.host}/events/app:v3`)).code !== 0) break;
      if (Date.now() > gone) throw new Error('the delete did not reach the target');
      await new Promise((res) => setTimeout(res, 300));
    }
  });
});
