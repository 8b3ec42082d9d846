import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTags, skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags } from '../support/clients';
import { startCountingProxy, type CountingProxy } from '../support/counting-proxy';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { createPolicyAndWait, executionTasks, policyExecutions, waitExecutionDone, waitTagsKnown } from '../support/replication-api';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Replication end to end through Wharf's API, a Wharf-managed source and real targets: a plain
 * registry, one with htpasswd Basic auth, a second Wharf (token auth); pulls from a plain registry;
 * filters, override off, an index, triggers, deletions, bad input, metrics. (Push to a plain
 * registry with a creation run, a dry run and an event trigger: replication-run.test.ts.)
 */

const BASIC = { username: 'mirror', password: 'mirror-password-1' };

let work: string;
let plain: PlainRegistry;
let basicTarget: PlainRegistry;
let pullSource: PlainRegistry;
let catalogSeen: string[];
let pullProxy: CountingProxy;
let w: TestWharf;
let w2: TestWharf;
let img1: BuiltImage;
let img2: BuiltImage;
let img3: BuiltImage;
let index: BuiltIndex;

const api: TestWharf['api'] = (method, p, o) => w.api(method, p, o);

async function push(layout: string, ref: string, creds?: string) {
  const r = await skopeoCopy(layout, `docker://${ref}`, { destCreds: creds });
  expect(r.code, r.stderr).toBe(0);
}

/** The manifest digest a registry serves for a reference, or null when it has none. */
async function digestAt(ref: string, creds?: string): Promise<string | null> {
  const r = await skopeoInspect(`docker://${ref}`, creds, { raw: true });
  if (r.code !== 0) return null;
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(r.stdout).digest('hex')}`;
}

async function tagsAt(repoRef: string, creds?: string): Promise<string[]> {
  const r = await skopeoListTags(`docker://${repoRef}`, creds);
  if (r.code !== 0) return [];
  return parseTags(r.stdout).sort();
}

async function addRegistry(body: Record<string, unknown>) {
  const r = await api('POST', '/api/v1/registries', { auth: admin, body: { kind: 'distribution', ...body } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-repl-e2e-'));
  [plain, basicTarget, pullSource, w, w2, img1, img2, img3, index] = await Promise.all([
    startPlainRegistry(),
    startPlainRegistry({ htpasswd: BASIC }),
    startPlainRegistry(),
    // Registry calls may be slow on a loaded machine; a stopped target still fails at once (connection refused).
    startTestWharf({ replication: { debounceMs: 200, maxAttempts: 2, retryBaseMs: 100, retryMaxMs: 200, requestTimeoutMs: 30_000 }, jobs: { pollMs: 200 } }),
    startTestWharf(),
    buildImage(path.join(work, 'img1'), { tag: 'v1' }),
    buildImage(path.join(work, 'img2'), { tag: 'v1' }),
    buildImage(path.join(work, 'img3'), { tag: 'v1' }),
    buildIndex(path.join(work, 'index'), { tag: 'multi' }),
  ]);
  catalogSeen = [];
  pullProxy = await startCountingProxy(pullSource.host, {
    gate: (req) => {
      if (req.url?.startsWith('/v2/_catalog')) catalogSeen.push(req.url);
    },
  });
  for (const name of ['team', 'pulled', 'globbed']) expect((await api('POST', '/api/v1/projects', { auth: admin, body: { name } })).status).toBe(201);
  await Promise.all([
    push(`oci:${img1.dir}:v1`, `${w.registry}/team/app:v1`, admin),
    push(`oci:${img1.dir}:v1`, `${w.registry}/team/app-old:v1`, admin),
    push(`oci:${img2.dir}:v1`, `${w.registry}/team/tools:v1`, admin),
    push(`oci:${index.dir}:multi`, `${w.registry}/team/multi:multi`, admin),
    push(`oci:${img1.dir}:v1`, `${pullSource.host}/lib/one:v1`),
    push(`oci:${img2.dir}:v1`, `${pullSource.host}/lib/one:v2`),
    push(`oci:${img3.dir}:v1`, `${pullSource.host}/lib/two:v1`),
    push(`oci:${img3.dir}:v1`, `${pullSource.host}/other/x:v1`),
  ]);
  await push(`oci:${img1.dir}:v1`, `${w.registry}/team/app:v2`, admin);
  await push(`oci:${img2.dir}:v1`, `${w.registry}/team/app:v2-rc`, admin);
  for (const [repository, tags] of [['team/app', ['v1', 'v2', 'v2-rc']], ['team/app-old', ['v1']], ['team/tools', ['v1']], ['team/multi', ['multi']]] as const)
    await waitTagsKnown(api, admin, repository, [...tags]);
  await addRegistry({ name: 'plain', url: plain.url });
  await addRegistry({ name: 'basic', url: basicTarget.url, ...BASIC });
  await addRegistry({ name: 'pull-src', url: pullProxy.url });
}, 180_000);

afterAll(async () => {
  await pullProxy?.close();
  await Promise.all([plain?.stop(), basicTarget?.stop(), pullSource?.stop(), w?.stop(), w2?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('push policies to three kinds of target', () => {
  it('a plain registry without auth: repository and tag filters with excludes decide what arrives', async () => {
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'filtered',
      direction: 'push',
      registry: 'plain',
      project: 'team',
      destination: 'filtered',
      filters: { repositories: ['app*'], excludeRepositories: ['app-old'], tags: ['v*'], excludeTags: ['*-rc'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 2, succeeded: 2, failed: 0 });
    expect(await tagsAt(`${plain.host}/filtered/app`)).toEqual(['v1', 'v2']);
    expect(await digestAt(`${plain.host}/filtered/app:v2`)).toBe(img1.manifestDigest);
    expect(await tagsAt(`${plain.host}/filtered/app-old`)).toEqual([]);
    expect(await tagsAt(`${plain.host}/filtered/tools`)).toEqual([]);
  });

  it('a plain registry with htpasswd Basic auth: an OCI index with two platforms arrives whole', async () => {
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'to-basic',
      direction: 'push',
      registry: 'basic',
      project: 'team',
      destination: 'mirror',
      filters: { repositories: ['multi', 'tools'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 2, succeeded: 2 });
    const creds = `${BASIC.username}:${BASIC.password}`;
    expect(await digestAt(`${basicTarget.host}/mirror/multi:multi`, creds)).toBe(index.indexDigest);
    for (const child of index.childDigests) expect(await digestAt(`${basicTarget.host}/mirror/multi@${child}`, creds)).toBe(child);
    expect(await digestAt(`${basicTarget.host}/mirror/tools:v1`, creds)).toBe(img2.manifestDigest);
    const copy = await skopeoCopy(`docker://${basicTarget.host}/mirror/multi:multi`, `dir:${path.join(work, 'pulled-index')}`, { srcCreds: creds });
    expect(copy.code, copy.stderr).toBe(0);
  });

  it('a second Wharf (token auth) through a system robot that may create projects: the missing destination project is made there', async () => {
    const robot = await w2.api('POST', '/api/v1/robots', { auth: admin, body: { name: 'replicator', permissions: ['pull', 'push'], projects: [], createProjects: true } });
    expect(robot.status, JSON.stringify(robot.body)).toBe(201);
    expect((await w2.api('GET', '/api/v1/projects/copied', { auth: admin })).status).toBe(404);
    await addRegistry({ name: 'wharf2', kind: 'wharf', url: `http://${w2.registry}`, username: robot.body.name, password: robot.body.secret });
    expect((await api('POST', '/api/v1/registries/wharf2/ping', { auth: admin })).body).toEqual({ ok: true, auth: 'bearer' });
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'to-wharf',
      direction: 'push',
      registry: 'wharf2',
      project: 'team',
      destination: 'copied',
      filters: { repositories: ['app'], tags: ['v1'] },
      trigger: { type: 'manual' },
    });
    const tasks = await executionTasks(api, admin, execution.id);
    expect(execution, JSON.stringify(tasks)).toMatchObject({ status: 'succeeded', total: 1, succeeded: 1 });
    expect((await w2.api('GET', '/api/v1/projects/copied', { auth: admin })).status).toBe(200);
    expect(await digestAt(`${w2.registry}/copied/app:v1`, admin)).toBe(img1.manifestDigest);
    const robots = await w2.api('GET', '/api/v1/robots', { auth: admin });
    expect(robots.body.items.find((r: any) => r.name === robot.body.name)?.projects).toEqual(['copied']);
  });
});

describe('pull policies from a plain registry', () => {
  it('literal repository names are read without the catalog', async () => {
    catalogSeen.length = 0;
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'pull-literal',
      direction: 'pull',
      registry: 'pull-src',
      project: 'pulled',
      filters: { repositories: ['lib/one'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 2, succeeded: 2 });
    expect(catalogSeen).toEqual([]);
    expect(await digestAt(`${w.registry}/pulled/one:v1`, admin)).toBe(img1.manifestDigest);
    expect(await digestAt(`${w.registry}/pulled/one:v2`, admin)).toBe(img2.manifestDigest);
    const listed = await api('GET', '/api/v1/repositories/pulled%2Fone/tags', { auth: admin });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((t: any) => t.name).sort()).toEqual(['v1', 'v2']);
  });

  it('a glob reads the catalog; its dry run lists the same tasks as the real run', async () => {
    catalogSeen.length = 0;
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'pull-glob',
      direction: 'pull',
      registry: 'pull-src',
      project: 'globbed',
      filters: { repositories: ['lib/*'], excludeTags: ['v2'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 2, succeeded: 2 });
    expect(catalogSeen.length).toBeGreaterThan(0);
    expect(await digestAt(`${w.registry}/globbed/one:v1`, admin)).toBe(img1.manifestDigest);
    expect(await digestAt(`${w.registry}/globbed/two:v1`, admin)).toBe(img3.manifestDigest);
    expect(await digestAt(`${w.registry}/globbed/one:v2`, admin)).toBeNull();
    expect(await digestAt(`${w.registry}/globbed/x:v1`, admin)).toBeNull();

    const dry = await api('POST', '/api/v1/replication/policies/pull-glob/executions', { auth: admin, body: { dryRun: true } });
    expect(dry.status, JSON.stringify(dry.body)).toBe(202);
    const shape = (t: any) => [t.operation, t.repository, t.tag, t.destination];
    const dryTasks = await executionTasks(api, admin, dry.body.id);
    expect(dryTasks.map(shape)).toEqual((await executionTasks(api, admin, execution.id)).map(shape));
    expect(dryTasks.map(shape)).toEqual([
      ['copy', 'lib/one', 'v1', 'globbed/one'],
      ['copy', 'lib/two', 'v1', 'globbed/two'],
    ]);
  });
});

describe('override, triggers and deletions', () => {
  it('override off: a tag at the target on another digest is left alone and its task skipped override_off', async () => {
    await push(`oci:${img2.dir}:v1`, `${plain.host}/keep/app:v1`);
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'no-override',
      direction: 'push',
      registry: 'plain',
      project: 'team',
      destination: 'keep',
      override: false,
      filters: { repositories: ['app'], tags: ['v1', 'v2'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 2, succeeded: 1, skipped: 1 });
    const skipped = await executionTasks(api, admin, execution.id, 'skipped');
    expect(skipped).toMatchObject([{ repository: 'team/app', tag: 'v1', destination: 'keep/app', reason: 'override_off' }]);
    expect(await digestAt(`${plain.host}/keep/app:v1`)).toBe(img2.manifestDigest);
    expect(await digestAt(`${plain.host}/keep/app:v2`)).toBe(img1.manifestDigest);
  });

  it('a cron trigger (six fields, every two seconds) starts executions', async () => {
    const created = await api('POST', '/api/v1/replication/policies', {
      auth: admin,
      body: { name: 'on-cron', direction: 'push', registry: 'plain', project: 'team', destination: 'cron', filters: { repositories: ['tools'] }, replicateExisting: false, trigger: { type: 'cron', cron: '*/2 * * * * *' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await waitFor(async () => (await policyExecutions(api, admin, 'on-cron')).filter((e) => e.trigger === 'cron').length >= 2, 20_000, 'two cron executions');
    const runs = await policyExecutions(api, admin, 'on-cron');
    expect((await api('PATCH', '/api/v1/replication/policies/on-cron', { auth: admin, body: { enabled: false } })).status).toBe(200);
    expect(await waitExecutionDone(api, admin, runs[runs.length - 1].id)).toMatchObject({ status: 'succeeded' });
    expect(await digestAt(`${plain.host}/cron/tools:v1`)).toBe(img2.manifestDigest);
  });

  it('deletions: a tag deleted through the API and an image deleted by a client at the registry are deleted at the 2.8 target; the other tags stay', async () => {
    await push(`oci:${img1.dir}:v1`, `${w.registry}/team/gone:keep`, admin);
    await push(`oci:${img2.dir}:v1`, `${w.registry}/team/gone:api`, admin);
    await push(`oci:${img3.dir}:v1`, `${w.registry}/team/gone:direct`, admin);
    await waitTagsKnown(api, admin, 'team/gone', ['keep', 'api', 'direct']);
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'deletions',
      direction: 'push',
      registry: 'plain',
      project: 'team',
      destination: 'del',
      deletions: true,
      filters: { repositories: ['gone'] },
      trigger: { type: 'event' },
    });
    expect(execution).toMatchObject({ status: 'succeeded', total: 3, succeeded: 3 });
    expect(await tagsAt(`${plain.host}/del/gone`)).toEqual(['api', 'direct', 'keep']);

    expect((await api('DELETE', '/api/v1/repositories/team%2Fgone/tags/api', { auth: admin })).status).toBe(204);
    await waitFor(async () => (await tagsAt(`${plain.host}/del/gone`)).join() === 'direct,keep', 20_000, 'the API delete at the target');
    const direct = await skopeoDelete(`docker://${w.registry}/team/gone@${img3.manifestDigest}`, admin);
    expect(direct.code, direct.stderr).toBe(0);
    await waitFor(async () => (await tagsAt(`${plain.host}/del/gone`)).join() === 'keep', 20_000, 'the registry delete at the target');
    expect(await digestAt(`${plain.host}/del/gone:keep`)).toBe(img1.manifestDigest);
    const events = (await policyExecutions(api, admin, 'deletions')).filter((e) => e.trigger === 'event');
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      const tasks = await executionTasks(api, admin, e.id);
      expect(tasks.every((t) => t.operation === 'delete' && t.status === 'succeeded'), JSON.stringify(tasks)).toBe(true);
    }
  });
});

describe('a target stopped mid-copy', () => {
  it('its tasks fail with the reason after their retries; after its restart a retry completes without sending the blobs that had arrived', async () => {
    const storageDir = path.join(work, 'flaky-storage');
    const httpSecret = 'flaky-http-secret';
    let flaky = await startPlainRegistry({ storageDir, httpSecret });
    const port = flaky.port;
    const big = await buildImage(path.join(work, 'big'), { tag: 'v1', layers: 4, layerSize: 512 * 1024 });
    await push(`oci:${big.dir}:v1`, `${w.registry}/team/big:v1`, admin);
    await waitTagsKnown(api, admin, 'team/big', ['v1']);
    let stopped = false;
    const proxy = await startCountingProxy(flaky.host, {
      // Once two blobs have arrived, the next request finds the registry gone.
      gate: async (_req, counts) => {
        if (!stopped && counts.finished.length >= 2) {
          stopped = true;
          await flaky.stop();
        }
      },
    });
    try {
      await addRegistry({ name: 'flaky', url: proxy.url });
      const { execution } = await createPolicyAndWait(api, admin, {
        name: 'to-flaky',
        direction: 'push',
        registry: 'flaky',
        project: 'team',
        destination: 'flaky',
        filters: { repositories: ['big'] },
        concurrency: 1,
        trigger: { type: 'manual' },
      });
      expect(stopped).toBe(true);
      expect(execution).toMatchObject({ status: 'failed', total: 1, failed: 1 });
      const failed = await executionTasks(api, admin, execution.id, 'failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ repository: 'team/big', tag: 'v1', attempts: 2, error: expect.stringMatching(/\S/) });
      const arrived = proxy.counts().finished;
      expect(arrived.length).toBeGreaterThanOrEqual(2);

      flaky = await startPlainRegistry({ storageDir, httpSecret, port });
      proxy.reset();
      const retried = await api('POST', `/api/v1/replication/executions/${execution.id}/retry`, { auth: admin });
      expect(retried.status, JSON.stringify(retried.body)).toBe(202);
      expect(await waitExecutionDone(api, admin, execution.id)).toMatchObject({ status: 'succeeded', succeeded: 1, failed: 0 });
      const sent = proxy.counts().finished;
      expect(sent.filter((d) => arrived.includes(d))).toEqual([]);
      expect(sent.length).toBeLessThanOrEqual(5 - arrived.length);
      expect(await digestAt(`${flaky.host}/flaky/big:v1`)).toBe(big.manifestDigest);
    } finally {
      await proxy.close();
      await flaky.stop();
      await rm(storageDir, { recursive: true, force: true });
    }
  });
});

describe('bad input through the API: a clear 4xx and nothing stored', () => {
  const policy = (over: Record<string, unknown>) => ({ name: 'bad', direction: 'push', registry: 'plain', project: 'team', trigger: { type: 'manual' }, ...over });

  it('unknown registry, bad globs, bad cron, a missing project, a pull on events', async () => {
    const before = (await api('GET', '/api/v1/replication/policies', { auth: admin })).body.items.length;
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [policy({ registry: 'nowhere' }), 404, /nowhere/],
      [policy({ filters: { repositories: ['app['] } }), 400, /app\[/],
      [policy({ filters: { excludeTags: ['v{1'] } }), 400, /v\{1/],
      [policy({ trigger: { type: 'cron', cron: '61 * * * *' } }), 400, /61 \* \* \* \*/],
      [policy({ trigger: { type: 'cron' } }), 400, /cron/i],
      [policy({ project: 'no-such-project' }), 404, /no-such-project/],
      [policy({ direction: 'pull', registry: 'pull-src', project: 'pulled', trigger: { type: 'event' } }), 422, /.+/],
    ];
    for (const [body, status, says] of cases) {
      const r = await api('POST', '/api/v1/replication/policies', { auth: admin, body });
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(JSON.stringify(r.body)).toMatch(says);
    }
    expect((await api('GET', '/api/v1/replication/policies', { auth: admin })).body.items).toHaveLength(before);
    expect((await api('GET', '/api/v1/replication/policies/bad', { auth: admin })).status).toBe(404);
    expect((await api('POST', '/api/v1/registries/nowhere/ping', { auth: admin })).status).toBe(404);
    expect((await api('POST', '/api/v1/replication/policies/nowhere/executions', { auth: admin })).status).toBe(404);
  });

  it('a URL that is not a registry: ping ok false; a run fails with the reason', async () => {
    await addRegistry({ name: 'not-registry', url: w.url });
    const ping = await api('POST', '/api/v1/registries/not-registry/ping', { auth: admin });
    expect(ping.body).toMatchObject({ ok: false, error: expect.stringMatching(/\S/) });
    const { execution } = await createPolicyAndWait(api, admin, {
      name: 'pull-not-registry',
      direction: 'pull',
      registry: 'not-registry',
      project: 'pulled',
      filters: { repositories: ['lib/*'] },
      trigger: { type: 'manual' },
    });
    expect(execution).toMatchObject({ status: 'failed', total: 0, error: expect.stringMatching(/planning failed: .+/) });
    const { execution: pushed } = await createPolicyAndWait(api, admin, policy({ name: 'push-not-registry', registry: 'not-registry', filters: { repositories: ['tools'] } }));
    expect(pushed).toMatchObject({ status: 'failed', failed: 1 });
    expect((await executionTasks(api, admin, pushed.id, 'failed'))[0].error).toMatch(/\S/);
  });

  it('wrong credentials: ping says so, a run fails with the reason', async () => {
    await addRegistry({ name: 'basic-wrong', url: basicTarget.url, username: BASIC.username, password: 'wrong-password' });
    const ping = await api('POST', '/api/v1/registries/basic-wrong/ping', { auth: admin });
    expect(ping.body).toMatchObject({ ok: false, auth: 'basic', error: expect.stringMatching(/refused the credentials \(401\)/) });
    const { execution } = await createPolicyAndWait(api, admin, policy({ name: 'push-wrong', registry: 'basic-wrong', filters: { repositories: ['tools'] } }));
    expect(execution).toMatchObject({ status: 'failed', failed: 1 });
    const [task] = await executionTasks(api, admin, execution.id, 'failed');
    expect(task).toMatchObject({ attempts: 1, error: expect.stringMatching(/refused the credentials \(401\)/) });
  });
});

describe('metrics', () => {
  it('wharf_replication_bytes_total and wharf_job_tasks_total moved with the runs above', async () => {
    const res = await fetch(`${w.url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    expect(value(/^wharf_replication_bytes_total\{direction="push"\} (\d+)/m)).toBeGreaterThan(1024 * 1024);
    expect(value(/^wharf_replication_bytes_total\{direction="pull"\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^wharf_job_tasks_total\{kind="replication",outcome="succeeded"\} (\d+)/m)).toBeGreaterThanOrEqual(10);
    expect(text).toMatch(/^wharf_job_tasks_total\{kind="replication",outcome="failed"\} [1-9]/m);
  });
});
