import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { tablesOf } from '../../src/db/engine';
import { holdWindowForGc, readOnlyState, releaseWindowForGc } from '../../src/storage/state';
import { inProcessApi, type ApiClient } from '../support/api-client';
import { startAppInstance, type AppInstance } from '../support/instance';
import { refused } from '../support/refusals';
import { admin } from '../support/wharf';

/** /api/v1/system/read-only in-process: the admin's switch, its reason, its audit row, and a GC's hold left alone. */

let running: AppInstance;
let api: ApiClient;
const USER = 'plainuser:plain-password-1';

beforeAll(async () => {
  running = await startAppInstance('wharf-read-only-', 'admin-password-1');
  api = inProcessApi(running);
  expect((await api.call('POST', '/api/v1/users', { auth: admin, body: { username: 'plainuser', password: 'plain-password-1' } })).status).toBe(201);
});

afterAll(async () => {
  await running?.stop();
});

const put = (body: unknown, auth = admin) => api.call('PUT', '/api/v1/system/read-only', { auth, body });
const auditRows = async () => {
  const { audit } = tablesOf(api.deps.db);
  return api.deps.db.select().from(audit).where(eq(audit.action, 'read_only_set'));
};

describe('read-only window', () => {
  it('is off at first; on with a reason, by whom and since when; off again; each audited', async () => {
    const first = await api.call('GET', '/api/v1/system/read-only', { auth: admin });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ readOnly: false, since: null, reason: null, by: null, gc: null });
    const on = await put({ readOnly: true, reason: '  disk migration ' });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body).toEqual({ readOnly: true, since: expect.any(String), reason: 'disk migration', by: 'admin', gc: null });
    expect((await api.call('GET', '/api/v1/system/read-only', { auth: admin })).body).toEqual(on.body);
    const off = await put({ readOnly: false });
    expect(off.body).toEqual({ readOnly: false, since: null, reason: null, by: null, gc: null });
    const rows = await auditRows();
    expect(rows.map((r) => [r.username, JSON.parse(r.detail!).readOnly, JSON.parse(r.detail!).reason])).toEqual([
      ['admin', true, 'disk migration'],
      ['admin', false, null],
    ]);
  });

  it('turning it off leaves a running garbage collection run its hold', async () => {
    const db = api.deps.db;
    // A GC execution whose task runs on a live lease (another process).
    const { jobExecutions, jobTasks } = tablesOf(db);
    const [e] = await db.insert(jobExecutions).values({ kind: 'gc', subject: 'registry', trigger: 'manual', status: 'running' }).returning();
    await db.insert(jobTasks).values({ executionId: e!.id, payload: '{}', status: 'running', leaseOwner: 'elsewhere', lockedUntil: Date.now() + 60_000 });
    expect(await holdWindowForGc(db, e!.id, new Date().toISOString())).toBe(true);
    await put({ readOnly: true, reason: 'maintenance' });
    const off = await put({ readOnly: false });
    expect(off.body).toMatchObject({ readOnly: true, reason: 'garbage collection', gc: { executionId: e!.id, since: expect.any(String) } });
    await releaseWindowForGc(db, e!.id);
    await db.update(jobTasks).set({ status: 'succeeded', leaseOwner: null, lockedUntil: null }).where(eq(jobTasks.executionId, e!.id));
    await db.update(jobExecutions).set({ status: 'succeeded', finishedAt: new Date().toISOString() }).where(eq(jobExecutions.id, e!.id));
    expect((await readOnlyState(db)).readOnly).toBe(false);
  });

  it('refuses bad bodies and non-admins with nothing changed', async () => {
    const before = await readOnlyState(api.deps.db);
    const auditBefore = (await auditRows()).length;
    await refused(api, 400, () => put({ readOnly: true, reason: 'x'.repeat(201) }));
    await refused(api, 400, () => put({ readOnly: true, reason: 'line\nbreak' }));
    await refused(api, 400, () => put({ readOnly: true, extra: 1 }));
    await refused(api, 400, () => put({ readOnly: 'yes' }));
    await refused(api, 400, () => put({}));
    await refused(api, 400, () => put({ readOnly: true, reason: 5 }));
    await refused(api, 403, () => put({ readOnly: true }, USER));
    await refused(api, 401, () => api.call('PUT', '/api/v1/system/read-only', { body: { readOnly: true } }));
    expect((await api.call('GET', '/api/v1/system/read-only', { auth: USER })).status).toBe(403);
    expect(await readOnlyState(api.deps.db)).toEqual(before);
    expect((await auditRows()).length).toBe(auditBefore);
    // 200 printable characters (not UTF-16 units) are fine.
    const long = await put({ readOnly: true, reason: '日'.repeat(200) });
    expect(long.status).toBe(200);
    expect(long.body.reason).toBe('日'.repeat(200));
    await put({ readOnly: false });
  });
});
