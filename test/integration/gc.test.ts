import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tablesOf } from '../../src/db/engine';
import { diskUsage, gcSchedule, listGcRuns, releaseStaleGcWindow } from '../../src/storage/gc';
import { holdWindowForGc, readOnlyState } from '../../src/storage/state';
import { updateProjectStorage } from '../../src/storage/store';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from '../support/oci';
import { runWharf } from '../support/cli';
import { startAppInstance, type AppInstance } from '../support/instance';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Garbage collection against the real registry: one dry run, one real run, both checked on disk and with skopeo. */

const PASSWORD = 'gc-password-1';
let w: TestWharf;
let work: string;
let imageA: BuiltImage;
let imageB: BuiltImage;
let index: BuiltIndex;
let storage: string;
let untagged: BuiltImage;
let kept: BuiltImage;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-gc-'));
  let retagged: BuiltImage;
  let keptNext: BuiltImage;
  [w, imageA, imageB, index, untagged, retagged, kept, keptNext] = await Promise.all([
    startTestWharf({ storage: { pushTokenExpiresIn: 10, tokenLeewaySeconds: 0 } }),
    buildImage(path.join(work, 'a'), { tag: 'v1', layerSize: 200_000 }),
    buildImage(path.join(work, 'b'), { tag: 'v1' }),
    buildIndex(path.join(work, 'idx'), { tag: 'multi' }),
    buildImage(path.join(work, 'u1'), { tag: 'v1' }),
    buildImage(path.join(work, 'u2'), { tag: 'v1' }),
    buildImage(path.join(work, 'k1'), { tag: 'v1' }),
    buildImage(path.join(work, 'k2'), { tag: 'v1' }),
  ]);
  storage = w.wharf.deps.config.registry.storage;
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'dev', password: PASSWORD } });
  await push(`oci:${imageA.dir}:v1`, 'library/a:v1');
  await push(`oci:${index.dir}:multi`, 'library/multi:multi');
  // An image left untagged by a push over its tag, in the default project (no retention policy) and in
  // a project whose retention policy keeps untagged images.
  await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'keep' } });
  const { db } = w.wharf.deps;
  const { projects, manifests, tags } = tablesOf(db);
  const keepId = (await db.select().from(projects).where(eq(projects.name, 'keep')))[0]!.id;
  await updateProjectStorage(db, keepId, { retentionRules: '[]', retentionUntagged: 'keep' });
  await push(`oci:${untagged.dir}:v1`, 'library/u:v1');
  await push(`oci:${kept.dir}:v1`, 'keep/k:v1');
  await waitFor(async () => (await db.select().from(tags)).length === 4);
  await push(`oci:${retagged.dir}:v1`, 'library/u:v1');
  await push(`oci:${keptNext.dir}:v1`, 'keep/k:v1');
  await waitFor(async () => {
    const digests = new Set((await db.select().from(tags)).map((t) => t.digest));
    const known = new Set((await db.select().from(manifests)).map((m) => m.digest));
    return digests.has(retagged.manifestDigest) && digests.has(keptNext.manifestDigest) && known.has(untagged.manifestDigest) && known.has(kept.manifestDigest);
  });
}, 60_000);

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function push(src: string, ref: string) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: admin });
  expect(r.code, r.stderr).toBe(0);
}

async function finished(id: number) {
  let run: any;
  await waitFor(
    async () => {
      run = (await w.api('GET', `/api/v1/system/gc/${id}`, { auth: admin })).body;
      return run.finishedAt !== null;
    },
    60_000,
  );
  return run;
}

/** Digests of the layers skopeo wrote into a dir: copy. */
async function pulledBlobs(dir: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  const files = await readdir(dir);
  for (const l of manifest.layers) expect(files).toContain(l.digest.slice('sha256:'.length));
  return manifest.layers.map((l) => l.digest);
}

describe('garbage collection API', () => {
  it('refuses bad bodies and non-admins with nothing changed; says this instance supervises the registry', async () => {
    const before = await w.api('GET', '/api/v1/system/gc', { auth: admin });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ supervised: true, command: null, items: [] });
    for (const body of [{ dryRun: 'yes' }, { deleteUntagged: 1 }, { force: true }, [], 'x'])
      expect((await w.api('POST', '/api/v1/system/gc', { auth: admin, body })).status, JSON.stringify(body)).toBe(400);
    expect((await w.api('POST', '/api/v1/system/gc', { auth: `dev:${PASSWORD}`, body: {} })).status).toBe(403);
    expect((await w.api('GET', '/api/v1/system/gc', { auth: `dev:${PASSWORD}` })).status).toBe(403);
    expect((await w.api('POST', '/api/v1/system/gc', { body: {} })).status).toBe(401);
    expect((await w.api('GET', '/api/v1/system/gc/abc', { auth: admin })).status).toBe(400);
    expect((await w.api('GET', '/api/v1/system/gc/999999', { auth: admin })).status).toBe(404);
    expect((await w.api('GET', '/api/v1/system/gc', { auth: admin })).body.items).toEqual([]);
  });

  it('sets the schedule (audited); a bad cron is a 400 that changes nothing', async () => {
    expect((await w.api('GET', '/api/v1/system/gc/schedule', { auth: admin })).body).toEqual({ cron: null, deleteUntagged: false });
    const set = await w.api('PUT', '/api/v1/system/gc/schedule', { auth: admin, body: { cron: '0 3 * * 0', deleteUntagged: true } });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ cron: '0 3 * * 0', deleteUntagged: true });
    for (const body of [{ cron: 'every sunday' }, { cron: '61 * * * *' }, { deleteUntagged: true }, { cron: null, extra: 1 }]) {
      const bad = await w.api('PUT', '/api/v1/system/gc/schedule', { auth: admin, body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
    expect((await w.api('PUT', '/api/v1/system/gc/schedule', { auth: `dev:${PASSWORD}`, body: { cron: null } })).status).toBe(403);
    expect((await w.api('GET', '/api/v1/system/gc/schedule', { auth: admin })).body).toEqual({ cron: '0 3 * * 0', deleteUntagged: true });
    expect((await w.api('PUT', '/api/v1/system/gc/schedule', { auth: admin, body: { cron: null } })).body).toEqual({ cron: null, deleteUntagged: true });
    const audit = await w.api('GET', '/api/v1/audit?action=gc_schedule_set', { auth: admin });
    expect(audit.status).toBe(200);
    expect(audit.body.items.length).toBe(2);
  });

  it('a dry run reports what the real run deletes and deletes nothing; the real run frees what it measures, holds the window, and images pull whole after', async () => {
    const { db } = w.wharf.deps;
    // The image goes through the API: its blobs stay on disk until GC.
    const del = await w.api('DELETE', `/api/v1/repositories/library%2Fa/manifests/${imageA.manifestDigest}`, { auth: admin });
    expect(del.status).toBe(204);

    const duBefore = await diskUsage(storage);
    const dry = await w.api('POST', '/api/v1/system/gc', { auth: admin, body: { dryRun: true, deleteUntagged: true } });
    expect(dry.status).toBe(202);
    expect(dry.body).toMatchObject({ dryRun: true, deleteUntagged: true, status: 'pending' });
    const dryRun = await finished(dry.body.id);
    expect(dryRun.status).toBe('succeeded');
    // The deleted image's manifest, config and two layers; the index and its children are kept.
    expect(dryRun.blobsDeleted).toBe(4);
    // That manifest, and the untagged image it would delete first (only listed in a dry run).
    expect(dryRun.manifestsDeleted).toBe(2);
    expect(dryRun.log).toContain(`would delete untagged library/u@${untagged.manifestDigest}`);
    expect(dryRun.log).not.toContain(`untagged keep/k@${kept.manifestDigest}`);
    for (const child of index.childDigests) expect(dryRun.log).not.toContain(`untagged library/multi@${child}`);
    expect((await skopeoInspect(`docker://${w.registry}/library/u@${untagged.manifestDigest}`, admin)).code).toBe(0);
    expect(dryRun.bytesFreed).toBeGreaterThan(400_000);
    expect(dryRun.log).toContain('blob eligible for deletion: ' + imageA.layerDigests[0]);
    expect(dryRun.log).not.toContain(index.childDigests[0] + '\n' + 'blob eligible');
    expect(await diskUsage(storage)).toBe(duBefore);
    expect((await readOnlyState(db)).readOnly).toBe(false);

    const real = await w.api('POST', '/api/v1/system/gc', { auth: admin, body: { deleteUntagged: true } });
    expect(real.status).toBe(202);
    const again = await w.api('POST', '/api/v1/system/gc', { auth: admin, body: { dryRun: true } });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(`garbage collection ${real.body.id} has not finished`);
    // The window is on while the run waits for push tokens, shown as pending.
    await waitFor(async () => (await readOnlyState(db)).gcExecutionId === real.body.id);
    const listed = await w.api('GET', '/api/v1/system/gc', { auth: admin });
    expect(listed.body.items[0]).toMatchObject({ id: real.body.id, status: 'pending', dryRun: false });
    const refused = await skopeoCopy(`oci:${imageB.dir}:v1`, `docker://${w.registry}/library/b:v1`, { destCreds: admin });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied|403|read-only/i);

    const run = await finished(real.body.id);
    const duAfter = await diskUsage(storage);
    expect(run.status, run.error ?? '').toBe('succeeded');
    // What the dry run found, and the untagged image's four blobs, deleted through Wharf first.
    expect(run.blobsDeleted).toBe(dryRun.blobsDeleted + 4);
    expect(run.manifestsDeleted).toBe(dryRun.manifestsDeleted);
    // Measured: the run's "after" is the storage now; its "before" is ours less the links the untagged delete removed.
    const [, measuredBefore, measuredAfter] = /storage (\d+) → (\d+) bytes/.exec(run.log)!.map(Number);
    expect(measuredAfter).toBe(duAfter);
    expect(run.bytesFreed).toBe(measuredBefore! - duAfter);
    expect(duBefore - measuredBefore!).toBeGreaterThanOrEqual(0);
    expect(duBefore - measuredBefore!).toBeLessThan(1024);
    expect(run.bytesFreed).toBeGreaterThan(dryRun.bytesFreed);
    expect(run.log).toContain(`deleted untagged library/u@${untagged.manifestDigest}`);
    expect((await skopeoInspect(`docker://${w.registry}/library/u@${untagged.manifestDigest}`, admin)).code).not.toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/library/u:v1`, admin)).code).toBe(0);
    // Kept: untagged in a project whose retention keeps untagged images.
    expect((await skopeoInspect(`docker://${w.registry}/keep/k@${kept.manifestDigest}`, admin)).code).toBe(0);
    const imageDeletes = await db.select().from(tablesOf(db).audit).where(eq(tablesOf(db).audit.action, 'image_delete'));
    expect(imageDeletes.map((a) => a.digest).sort()).toEqual([imageA.manifestDigest, untagged.manifestDigest].sort());
    expect(run.log).toContain('Deleting blob');
    expect((await readOnlyState(db)).readOnly).toBe(false);
    const { audit } = tablesOf(db);
    const runs = (await db.select().from(audit).where(eq(audit.action, 'gc_run'))).map((a) => JSON.parse(a.detail!) as { dryRun: boolean; bytesFreed: number });
    expect(runs.map((r) => [r.dryRun, r.bytesFreed])).toEqual([
      [true, dryRun.bytesFreed],
      [false, run.bytesFreed],
    ]);

    // Pushed again, the collected image pulls whole (no stale blob descriptor says its blobs are there).
    await push(`oci:${imageA.dir}:v1`, 'library/a:v1');
    const out = path.join(work, 'pulled-a');
    const pulled = await skopeoCopy(`docker://${w.registry}/library/a:v1`, `dir:${out}`, { srcCreds: admin, all: false });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await pulledBlobs(out)).toEqual(imageA.layerDigests);
    // The index survived with both platforms.
    for (const arch of ['amd64', 'arm64']) {
      const dir = path.join(work, `pulled-${arch}`);
      const r = await skopeoCopy(`docker://${w.registry}/library/multi:multi`, `dir:${dir}`, { srcCreds: admin, all: false, extraArgs: ['--override-arch', arch, '--override-os', 'linux'] });
      expect(r.code, r.stderr).toBe(0);
      expect((await pulledBlobs(dir)).length).toBe(2);
    }
    // And pushes work again.
    await push(`oci:${imageB.dir}:v1`, 'library/b:v1');
  }, 120_000);

  it('gives back the window of a run that is over (a crash during GC does not leave the registry read-only)', async () => {
    const { db, log } = w.wharf.deps;
    expect(await holdWindowForGc(db, 987_654, new Date().toISOString())).toBe(true);
    expect((await readOnlyState(db)).readOnly).toBe(true);
    expect(await releaseStaleGcWindow({ db, log, clock: w.wharf.deps.clock })).toBe(true);
    expect((await readOnlyState(db)).readOnly).toBe(false);
    const { storageState } = tablesOf(db);
    expect((await db.select().from(storageState))[0]!.gcExecutionId).toBeNull();
  });

  it('wharf gc --dry-run on the registry\'s host runs a GC execution in the command and prints its counts', async () => {
    const { config } = w.wharf.deps;
    const env: Record<string, string> = { WHARF_DATA_DIR: w.dataDir, WHARF_REGISTRY_STORAGE: config.registry.storage, WHARF_REGISTRY_URL: config.registry.url };
    if (config.database.url) env.WHARF_DATABASE_URL = config.database.url;
    const bad = await runWharf(['gc', '--now'], env);
    expect(bad.code).toBe(2);
    const r = await runWharf(['gc', '--dry-run'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/garbage collection \d+ started \(dry run\)/);
    expect(r.stdout).toContain('would delete 0 manifests and 0 blobs; would free 0 bytes');
    const runs = (await w.api('GET', '/api/v1/system/gc', { auth: admin })).body.items;
    expect(runs[0]).toMatchObject({ dryRun: true, status: 'succeeded', blobsDeleted: 0 });
  }, 60_000);

  it('an instance that does not supervise the registry says where to run it and starts nothing', async () => {
    const side = await startTestWharf({}, { manage: false });
    try {
      const listed = await side.api('GET', '/api/v1/system/gc', { auth: admin });
      expect(listed.body).toEqual({ supervised: false, command: 'wharf gc', items: [] });
      const refused = await side.api('POST', '/api/v1/system/gc', { auth: admin, body: {} });
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toContain('run `wharf gc` on the registry');
      expect((await side.api('GET', '/api/v1/system/gc', { auth: admin })).body.items).toEqual([]);
      expect((await readOnlyState(side.wharf.deps.db)).readOnly).toBe(false);
    } finally {
      await side.stop();
    }
  });
});

describe('garbage collection pages', () => {
  let running: AppInstance;
  beforeAll(async () => {
    running = await startAppInstance('wharf-gc-ui-');
  });
  afterAll(async () => {
    await running?.stop();
  });

  async function page(method: 'GET' | 'POST', pathname: string, fields: Record<string, string> = {}) {
    const session = await running.session('admin');
    const headers: Record<string, string> = { cookie: `wharf_lang=en; ${session.cookie}` };
    let body: string | undefined;
    if (method === 'POST') {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({ _csrf: session.csrf, ...fields }).toString();
    }
    const res = await running.app.request(pathname, { method, headers, body });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  }

  it('shows the command for the registry host, saves the schedule, refuses a bad cron with nothing changed, links from the system page', async () => {
    const shown = await page('GET', '/system/gc');
    expect(shown.status).toBe(200);
    expect(shown.body).toContain('data-gc="not-supervised"');
    expect(shown.body).toContain('<code>wharf gc</code>');
    expect(shown.body).toContain('No garbage collection has run yet.');
    expect((await page('GET', '/system')).body).toContain('href="/system/gc"');

    const saved = await page('POST', '/system/gc/schedule', { cron: '30 2 * * *', deleteUntagged: 'true' });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe('/system/gc?done=scheduled');
    expect(await gcSchedule(running.instance.deps.db)).toEqual({ cron: '30 2 * * *', deleteUntagged: true });
    expect((await page('GET', '/system/gc?done=scheduled')).body).toContain('Schedule saved.');

    const bad = await page('POST', '/system/gc/schedule', { cron: 'sometimes' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('Invalid cron expression sometimes');
    expect(await gcSchedule(running.instance.deps.db)).toEqual({ cron: '30 2 * * *', deleteUntagged: true });

    const start = await page('POST', '/system/gc', { dryRun: 'true' });
    expect(start.status).toBe(409);
    expect(start.body).toContain('does not supervise the registry');
    expect(await listGcRuns(running.instance.deps.db)).toEqual([]);
    expect((await page('GET', '/system/gc/12345')).status).toBe(404);
  });
});
