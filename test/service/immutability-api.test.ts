import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/context';
import { createUser, findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { createProject, setMember } from '../../src/access/projects';
import { ensureRepository, tagDigest, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { transaction } from '../../src/db/transaction';
import { RegistryClient } from '../../src/registry/client';
import { getRules, setRules } from '../../src/storage/immutability';
import { IMMUTABLE_RESTORE_JOB, noteImmutableMove, restoreHandler } from '../../src/storage/immutability-restore';
import { setManualReadOnly } from '../../src/storage/state';
import { listExecutions } from '../../src/jobs/executions';
import type { TaskContext } from '../../src/jobs/runner';
import type { Instance } from '../../src/server';
import { startAppInstance, type AppInstance } from '../support/instance';
import { freePort } from '../support/ports';
import { jobTasks } from '../support/tables';

/** The immutability pages, and the violation check and restore handler without a registry. */

let running: AppInstance;
let instance: Instance;
const sessions: Record<string, { cookie: string; csrf: string }> = {};
const actor = { username: 'admin' };
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;
const db = () => instance.deps.db;
const adminCtx = async () => contextFor(instance.deps, userPrincipal((await findUser(db(), 'admin'))!, 'password'), actor);

async function get(pathname: string, as: string) {
  const res = await running.app.request(pathname, { headers: { cookie: `wharf_lang=en; ${sessions[as]!.cookie}` } });
  return { status: res.status, body: await res.text() };
}

async function post(pathname: string, fields: Record<string, string>, as: string) {
  const body = new URLSearchParams({ _csrf: sessions[as]!.csrf, ...fields });
  const res = await running.app.request(pathname, {
    method: 'POST',
    headers: { cookie: `wharf_lang=en; ${sessions[as]!.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

beforeAll(async () => {
  running = await startAppInstance('wharf-immutability-');
  instance = running.instance;
  for (const u of ['bob', 'alice']) await createUser({ db: db(), actor }, { username: u, password: `${u}-password-1` });
  await createProject(await adminCtx(), { name: 'team', public: false });
  await setMember(await adminCtx(), 'team', 'bob', 'projectAdmin');
  await setMember(await adminCtx(), 'team', 'alice', 'developer');
  for (const u of ['bob', 'alice']) sessions[u] = await running.session(u);
});

afterAll(async () => {
  await running?.stop();
});

describe('the immutability page', () => {
  it('a projectAdmin adds and removes rules; a bad glob is shown and changes nothing; a developer is refused', async () => {
    const page = await get('/projects/team/immutability', 'bob');
    expect(page.status).toBe(200);
    expect(page.body).toContain('No rules');
    expect(page.body).toContain('aria-current="page"');

    const added = await post('/projects/team/immutability/add', { repositories: '**', tags: 'release-*' }, 'bob');
    expect(added.status, added.body).toBe(303);
    expect(added.location).toBe('/projects/team/immutability?done=added');
    expect((await get('/projects/team/immutability?done=added', 'bob')).body).toContain('release-*');
    expect((await getRules(await adminCtx(), 'team')).rules).toEqual([{ repositories: '**', tags: 'release-*' }]);

    const bad = await post('/projects/team/immutability/add', { repositories: 'app', tags: 'a/b' }, 'bob');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('rules[1].tags');
    const stale = await post('/projects/team/immutability/remove', { index: '0', repositories: '**', tags: 'other' }, 'bob');
    expect(stale.status).toBe(400);
    expect((await getRules(await adminCtx(), 'team')).rules).toEqual([{ repositories: '**', tags: 'release-*' }]);

    expect((await get('/projects/team/immutability', 'alice')).status).toBe(403);
    expect((await post('/projects/team/immutability/add', { repositories: '**', tags: '*' }, 'alice')).status).toBe(403);
    expect((await get('/projects/nope/immutability', 'bob')).status).toBe(404);

    const removed = await post('/projects/team/immutability/remove', { index: '0', repositories: '**', tags: 'release-*' }, 'bob');
    expect(removed.status, removed.body).toBe(303);
    expect((await getRules(await adminCtx(), 'team')).rules).toEqual([]);
  });
});

describe('a push moving an immutable tag', () => {
  const move = (tag: string, digest: string) =>
    transaction(db(), (tx) => noteImmutableMove(tx, { repository: 'team/app', tag, digest, pusher: 'alice', at: new Date().toISOString(), sourceIp: null, userAgent: null }, 'library'));
  const restores = async () => (await listExecutions(db(), { kind: IMMUTABLE_RESTORE_JOB, limit: 100 })).length;

  it('is a violation only for an existing matching tag moved away from the recorded digest', async () => {
    await setRules(await adminCtx(), 'team', { rules: [{ repositories: 'app', tags: 'release-*' }] });
    const repo = await ensureRepository(db(), 'team/app', 'library');
    for (const d of [A, B, C]) await upsertManifest(db(), repo.id, { digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const before = await restores();
    // A new tag: no violation.
    expect(await move('release-1', A)).toBe(false);
    await upsertTag(db(), repo.id, { name: 'release-1', digest: A, pushedAt: new Date().toISOString() });
    await upsertTag(db(), repo.id, { name: 'dev', digest: A, pushedAt: new Date().toISOString() });
    // Same digest, or a tag no rule matches: no violation.
    expect(await move('release-1', A)).toBe(false);
    expect(await move('dev', B)).toBe(false);
    expect(await restores()).toBe(before);
    // Moved: a restore to A is queued.
    expect(await move('release-1', B)).toBe(true);
    await upsertTag(db(), repo.id, { name: 'release-1', digest: B, pushedAt: new Date().toISOString() });
    expect(await restores()).toBe(before + 1);
    // While that restore is unfinished, a push back onto A is none, and a push of C restores A (not B).
    expect(await move('release-1', A)).toBe(false);
    expect(await move('release-1', C)).toBe(true);
    const tasks = await db().select().from(jobTasks);
    const payloads = tasks.map((t) => JSON.parse(t.payload)).filter((p) => p.tag === 'release-1');
    expect(payloads.map((p) => [p.digest, p.violating])).toEqual([
      [A, B],
      [A, C],
    ]);
    expect(await tagDigest(db(), repo.id, 'release-1')).toBe(B);
  });
});

describe('the restore handler', () => {
  const task = (payload: Record<string, unknown>): TaskContext => ({
    id: 1,
    executionId: 1,
    payload,
    checkpoint: null,
    attempt: 1,
    dryRun: false,
    signal: new AbortController().signal,
    saveCheckpoint: async () => {},
    addBytes: () => {},
  });
  const payload = { repository: 'team/app', tag: 'release-1', digest: A, violating: B, pusher: 'alice' };

  it('asks to be retried while the registry is read-only or unreachable', async () => {
    const port = await freePort();
    const registry = new RegistryClient(`http://127.0.0.1:${port}`, { timeoutMs: 1000 });
    try {
      const handler = restoreHandler({ db: db(), registry, config: instance.deps.config, clock: instance.deps.clock });
      await expect(handler(task(payload))).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/unreachable/) });
      await setManualReadOnly(db(), true, { at: new Date().toISOString(), by: 'admin', reason: null });
      await expect(handler(task(payload))).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/read-only/) });
    } finally {
      await setManualReadOnly(db(), false, { at: new Date().toISOString(), by: 'admin', reason: null });
      await registry.close();
    }
  });
});
