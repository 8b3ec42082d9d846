import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type DockerClient, type DockerdHandle, type ExecResult } from '../support/dockerd';
import { waitFor } from '../support/wait';
import { ADMIN_PASSWORD, admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * docker against the storage gates: in the read-only window and over a project's quota `docker
 * push` fails and prints Wharf's reason; after the window, and after deletes bring the usage
 * back under the limit (recomputed), the same push works.
 */

let w: TestWharf;
let dockerd: DockerdHandle | undefined;
let docker: DockerClient;
let registry: string;

const output = (r: ExecResult) => `${r.stdout}\n${r.stderr}`;
const expectOk = (r: ExecResult, what: string) => expect(r.code, `${what}:\n${output(r)}\n--- dockerd ---\n${dockerd?.logTail().slice(-4000)}`).toBe(0);
const digestOf = (pushOutput: string) => /digest: (sha256:[0-9a-f]{64})/.exec(pushOutput)?.[1];
const quota = async () => (await w.api('GET', '/api/v1/projects/team/quota', { auth: admin })).body as { limitBytes: number | null; usedBytes: number };

beforeAll(async () => {
  const [wharf, engine] = await Promise.allSettled([startTestWharf(), startDockerd()]);
  if (wharf.status === 'fulfilled') w = wharf.value;
  if (engine.status === 'fulfilled') dockerd = engine.value;
  if (wharf.status === 'rejected') throw wharf.reason;
  if (engine.status === 'rejected') throw engine.reason;
  registry = w.registry;
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  docker = await dockerd!.client('admin');
  expectOk(await docker.login(registry, 'admin', ADMIN_PASSWORD), 'docker login');
  for (const tag of ['1', '2', '3']) await dockerd!.importImage(`${registry}/team/app:${tag}`);
}, 120_000);

afterAll(async () => {
  await w?.api('PUT', '/api/v1/system/read-only', { auth: admin, body: { readOnly: false } });
  await Promise.allSettled([dockerd?.stop(), w?.stop()]);
}, 60_000);

describe('docker push and the storage gates', () => {
  it('in the read-only window docker push fails and prints the reason; it works after', async () => {
    const on = await w.api('PUT', '/api/v1/system/read-only', { auth: admin, body: { readOnly: true, reason: 'moving disks' } });
    expect(on.status).toBe(200);
    const refused = await docker.run(['push', `${registry}/team/app:1`]);
    expect(refused.code).not.toBe(0);
    expect(output(refused)).toContain('read-only');
    expect(output(refused)).toContain('moving disks');
    expect((await w.api('PUT', '/api/v1/system/read-only', { auth: admin, body: { readOnly: false } })).status).toBe(200);
    expectOk(await docker.run(['push', `${registry}/team/app:1`]), 'docker push after the window');
  }, 60_000);

  it('over the quota docker push prints the reason; deleting images brings usage down and pushes work again', async () => {
    await waitFor(async () => (await quota()).usedBytes > 0, 20_000, 'usage of team after the first push');
    const base = (await quota()).usedBytes;
    expect((await w.api('PUT', '/api/v1/projects/team/quota', { auth: admin, body: { limitBytes: base + 1 } })).status).toBe(200);
    // Under the limit still: this push goes through and overshoots it.
    const second = await docker.run(['push', `${registry}/team/app:2`]);
    expectOk(second, 'docker push under the limit');
    await waitFor(async () => (await quota()).usedBytes > base + 1, 20_000, 'usage recomputed after the second push');

    const refused = await docker.run(['push', `${registry}/team/app:3`]);
    expect(refused.code).not.toBe(0);
    expect(output(refused)).toContain('over its storage quota');
    const tags = await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin });
    expect(tags.body.items.map((t: { name: string }) => t.name).sort()).toEqual(['1', '2']);

    const digest = digestOf(second.stdout)!;
    expect(digest).toBeTruthy();
    expect((await w.api('DELETE', `/api/v1/repositories/team%2Fapp/manifests/${digest}`, { auth: admin })).status).toBe(204);
    // Recomputed by the delete itself: no wait.
    expect((await quota()).usedBytes).toBe(base);
    expectOk(await docker.run(['push', `${registry}/team/app:3`]), 'docker push after the delete');
    const metrics = await w.wharf.deps.metrics.registry.getSingleMetricAsString('wharf_project_quota_bytes');
    expect(metrics).toContain(`wharf_project_quota_bytes{project="team"} ${base + 1}`);
  }, 90_000);
});
