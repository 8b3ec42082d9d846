import { asc, count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { firstRow, tablesOf } from '../../src/db/engine';
import { createSession } from '../../src/identity/sessions';
import { findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { header } from '../support/api-client';
import { RetentionTriggers } from '../../src/storage/retention-triggers';
import { setManualReadOnly } from '../../src/storage/state';
import { createExecution, stopExecution } from '../../src/jobs/executions';
import { contextFor } from '../../src/context';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../../src/identity/principal';
import { planProject, retentionHandler } from '../../src/storage/retention-run';
import { setExecutionResult } from '../../src/storage/retention-store';
import { RETENTION_JOB } from '../../src/storage/retention';
import { auditRows } from '../support/audit-trail';
import { refused } from '../support/refusals';
import { arrangeProject, CAST, expectRoles, uniqueName } from '../support/role-matrix';
import { inProcessSuite } from '../support/api-suite';
import { waitFor } from '../support/wait';
import { admin } from '../support/wharf';

/**
 * /api/v1/projects/{project}/retention in-process: the policy's validation (every bad input a 400
 * naming the rule and field, nothing stored), who may read and change it, its audit row, and dry
 * runs over tag rows (a dry run never asks the registry).
 */

const suite = inProcessSuite('wharf-retention-api-');
const { call } = suite;
const db = () => suite.api.deps.db;
const path = (project: string) => `/api/v1/projects/${project}/retention`;

async function storageRows() {
  const { projectStorage } = tablesOf(db());
  return db().select().from(projectStorage).orderBy(asc(projectStorage.projectId));
}
async function auditCount() {
  const { audit } = tablesOf(db());
  return (await firstRow(db().select({ n: count() }).from(audit).where(eq(audit.action, 'retention_set'))))!.n;
}

async function badPut(project: string, body: unknown, pattern: RegExp) {
  const before = { rows: await storageRows(), audits: await auditCount() };
  const r = await refused(suite.api, 400, () => call('PUT', path(project), { auth: admin, body }));
  expect(r.body.error.message).toMatch(pattern);
  expect({ rows: await storageRows(), audits: await auditCount() }).toEqual(before);
}

const rule = (extra: Record<string, unknown> = {}) => ({ repositories: '**', tags: '*', keep: 'latestPushed', n: 2, ...extra });

describe('the retention policy', () => {
  it('PUT stores it, GET reads it, retention_set records old and new; rules [] clears it', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    expect((await call('GET', path(p.name), { auth: CAST.projectAdmin })).body).toMatchObject({ rules: [], untagged: 'keep', cron: null });
    const body = { rules: [rule(), { repositories: 'release/*', tags: 'v*', keep: 'always' }], untagged: 'delete', cron: '0 4 * * *' };
    const put = await call('PUT', path(p.name), { auth: CAST.projectAdmin, body });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ rules: body.rules, untagged: 'delete', cron: '0 4 * * *', updatedBy: 'alice' });
    expect((await call('GET', path(p.name), { auth: admin })).body).toEqual(put.body);
    const [audit] = (await auditRows(suite.api, 'retention_set', p.name)).slice(-1);
    expect(audit!.username).toBe('alice');
    expect(JSON.parse(audit!.detail!)).toEqual({ old: { rules: [], untagged: 'keep', cron: null }, new: { rules: body.rules, untagged: 'delete', cron: '0 4 * * *' } });
    const cleared = await call('PUT', path(p.name), { auth: CAST.projectAdmin, body: { rules: [] } });
    expect(cleared.body).toMatchObject({ rules: [], cron: null });
    const r = await refused(suite.api, 409, () => call('POST', `${path(p.name)}/executions`, { auth: admin, body: { dryRun: true } }));
    expect(r.body.error.message).toMatch(/no retention policy/);
  });

  it('projectAdmin and system admins only; a private project is 404 to outsiders, a missing one 404', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    await expectRoles(suite.api, p, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403, projectAdmin: 200, admin: 200 }, (auth) =>
      call('GET', path(p.name), { auth }),
    );
    await expectRoles(suite.api, p, { anonymous: 401, robot: 403, outsider: 404, guest: 403, developer: 403 }, (auth) => call('PUT', path(p.name), { auth, body: { rules: [rule()] } }));
    await refused(suite.api, 404, () => call('PUT', path('no-such-project'), { auth: admin, body: { rules: [rule()] } }));
    await refused(suite.api, 404, () => call('POST', `${path('no-such-project')}/executions`, { auth: admin, body: {} }));
  });

  it('bad input is a 400 naming the rule and field, and changes nothing', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule()] } })).status).toBe(200);
    await badPut(p.name, { rules: [rule(), rule({ tags: '[' })] }, /rules\[1\]\.tags: invalid glob/);
    await badPut(p.name, { rules: [rule({ repositories: 'UPPER' })] }, /rules\[0\]\.repositories/);
    await badPut(p.name, { rules: [rule({ n: undefined })] }, /rules\[0\]\.n: latestPushed needs n/);
    await badPut(p.name, { rules: [rule({ n: 0 })] }, /rules\[0\]\.n/);
    await badPut(p.name, { rules: [rule({ n: 1.5 })] }, /whole number/);
    await badPut(p.name, { rules: [rule({ n: 100_001 })] }, /1 to 100000/);
    await badPut(p.name, { rules: [rule({ keep: 'pushedWithinDays', n: 36_501 })] }, /1 to 36500/);
    await badPut(p.name, { rules: [rule({ keep: 'always', n: 3 })] }, /rules\[0\]\.n: a rule that keeps always takes no n/);
    await badPut(p.name, { rules: [rule({ keep: 'newest' })] }, /rules\.0\.keep/);
    await badPut(p.name, { rules: [rule({ extra: 1 })] }, /unknown field extra/);
    await badPut(p.name, { rules: Array.from({ length: 51 }, () => rule()) }, /rules/);
    await badPut(p.name, { rules: [rule()], untagged: 'maybe' }, /untagged/);
    await badPut(p.name, { rules: [rule()], cron: 'every day' }, /cron: invalid cron expression/);
    // A plan of the whole project every second (six fields) or every minute is refused.
    await badPut(p.name, { rules: [rule()], cron: '* * * * * *' }, /more often than every five minutes/);
    await badPut(p.name, { rules: [rule()], cron: '* * * * *' }, /more often than every five minutes/);
    await badPut(p.name, { rules: [rule()], cron: `0 ${'x'.repeat(220)}` }, /longer than 200/);
    await badPut(p.name, { rules: [], cron: '0 4 * * *' }, /needs at least one rule/);
    await badPut(p.name, { rules: 'all' }, /rules/);
  });
});

/** Tag rows as reconcile or events would write them, in repositories of `project`. */
async function arrangeTags(project: string, tags: { repo: string; tag: string; digest: string; daysAgo: number }[]) {
  const now = suite.api.deps.clock.now();
  for (const t of tags) {
    const repo = await ensureRepository(db(), `${project}/${t.repo}`, 'library');
    const pushedAt = new Date(now - t.daysAgo * 86_400_000).toISOString();
    await upsertManifest(db(), repo.id, { digest: t.digest, pushedAt });
    await upsertTag(db(), repo.id, { name: t.tag, digest: t.digest, pushedAt });
  }
}
const dg = (n: number) => `sha256:${String(n).padStart(64, '0')}`;

describe('dry runs', () => {
  it('list the tags a run would delete, per repository, with the blobs only they hold as reclaimable; the tags stay', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    await arrangeTags(p.name, [
      { repo: 'app', tag: 'a1', digest: dg(1), daysAgo: 3 },
      { repo: 'app', tag: 'a2', digest: dg(2), daysAgo: 2 },
      { repo: 'app', tag: 'a3', digest: dg(3), daysAgo: 1 },
      { repo: 'other', tag: 'o1', digest: dg(4), daysAgo: 9 },
    ]);
    const { manifestBlobs, repositories, tags } = tablesOf(db());
    const app = (await firstRow(db().select().from(repositories).where(eq(repositories.name, `${p.name}/app`))))!;
    // a1 holds a layer of its own (100) and one shared with a3 (1000): only 100 + its manifest (10) are reclaimable.
    await db()
      .insert(manifestBlobs)
      .values([
        { repositoryId: app.id, manifestDigest: dg(1), blobDigest: dg(1), size: 10 },
        { repositoryId: app.id, manifestDigest: dg(1), blobDigest: dg(101), size: 100 },
        { repositoryId: app.id, manifestDigest: dg(1), blobDigest: dg(102), size: 1000 },
        { repositoryId: app.id, manifestDigest: dg(3), blobDigest: dg(102), size: 1000 },
      ]);
    expect((await call('PUT', path(p.name), { auth: CAST.projectAdmin, body: { rules: [rule({ repositories: 'app' })] } })).status).toBe(200);
    const started = await call('POST', `${path(p.name)}/executions`, { auth: CAST.projectAdmin, body: { dryRun: true } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.id as number;
    const done = await waitFor(async () => {
      const r = await call('GET', `${path(p.name)}/executions/${id}`, { auth: CAST.projectAdmin });
      return r.body.finishedAt ? r.body : null;
    });
    expect(done).toMatchObject({ status: 'succeeded', dryRun: true, deleted: [{ repository: `${p.name}/app`, tag: 'a1', digest: dg(1) }], kept: 2, bytesReclaimable: 110 });
    expect((await db().select().from(tags).where(eq(tags.repositoryId, app.id))).length).toBe(3);
    const list = await call('GET', `${path(p.name)}/executions`, { auth: CAST.projectAdmin });
    expect(list.body.items[0]).toMatchObject({ id, deletedCount: 1, dryRun: true });
    const [audit] = (await auditRows(suite.api, 'retention_run', p.name)).slice(-1);
    expect(JSON.parse(audit!.detail!)).toMatchObject({ execution: id, dryRun: true, deletedCount: 1, deleted: [`${p.name}/app:a1`] });
    await refused(suite.api, 404, () => call('GET', `${path('library')}/executions/${id}`, { auth: admin }));
  });
});

describe('the retention page', () => {
  async function signedIn(username: string) {
    const deps = suite.api.deps;
    const s = await createSession(deps, userPrincipal((await findUser(deps.db, username))!, 'password'), { ip: '127.0.0.1' });
    const cookie = `wharf_lang=en; wharf_session=${s.cookieValue}`;
    return {
      get: (p: string) => call('GET', p, { headers: { cookie } }),
      post: (p: string, fields: Record<string, string>) =>
        call('POST', p, { headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: s.csrfToken, ...fields }).toString() }),
    };
  }

  it('saves the rules typed in its rows, shows a refused form again with the reason, and starts a dry run', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    const alice = await signedIn('alice');
    const page = await alice.get(`/projects/${p.name}/retention`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('name="repositories_0"');
    expect(page.body).toContain('aria-current="page"');

    const before = await storageRows();
    const bad = await alice.post(`/projects/${p.name}/retention`, { rows: '3', repositories_0: '**', tags_0: '[', keep_0: 'always', n_0: '', untagged: 'keep', cron: '' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('rules[0].tags: invalid glob');
    expect(bad.body).toContain('value="["');
    expect(await storageRows()).toEqual(before);

    const saved = await alice.post(`/projects/${p.name}/retention`, {
      rows: '3',
      repositories_0: '**',
      tags_0: 'ci-*',
      keep_0: 'latestPushed',
      n_0: '5',
      repositories_1: '',
      tags_1: '',
      keep_1: 'latestPushed',
      untagged: 'delete',
      cron: '',
    });
    expect(saved.status, saved.body).toBe(303);
    expect((await call('GET', path(p.name), { auth: admin })).body).toMatchObject({ rules: [{ repositories: '**', tags: 'ci-*', keep: 'latestPushed', n: 5 }], untagged: 'delete' });

    const started = await alice.post(`/projects/${p.name}/retention/executions`, { dryRun: 'true' });
    expect(started.status).toBe(303);
    const location = header(started, 'location')!;
    expect(location).toMatch(new RegExp(`/projects/${p.name}/retention/executions/\\d+$`));
    const run = await alice.get(location);
    expect(run.status).toBe(200);
    expect(run.body).toContain('data-deleted-count="0"');
    // A guest of the project may not see it.
    expect((await (await signedIn('guest1')).get(`/projects/${p.name}/retention`)).status).toBe(403);
  });
});

describe('retention cron', () => {
  it('follows the stored policies: set with a cron, gone when the cron or the rules are cleared', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    const { projects } = tablesOf(db());
    const id = String((await firstRow(db().select().from(projects).where(eq(projects.name, p.name))))!.id);
    const triggers = new RetentionTriggers(suite.api.deps);
    const scheduled = triggers.scheduler();
    try {
      expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule()], cron: '0 4 * * *' } })).status).toBe(200);
      await triggers.syncCron();
      expect(triggers.keys()).toContain(id);
      expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule()] } })).status).toBe(200);
      await triggers.syncCron();
      expect(triggers.keys()).not.toContain(id);
    } finally {
      await scheduled.stop();
    }
  });
});

describe('a real run in the read-only window', () => {
  it('waits (its task tried again) instead of failing, and deletes nothing', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    await arrangeTags(p.name, [
      { repo: 'app', tag: 'old', digest: dg(11), daysAgo: 3 },
      { repo: 'app', tag: 'new', digest: dg(12), daysAgo: 1 },
    ]);
    expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule({ n: 1 })] } })).status).toBe(200);
    const at = new Date(suite.api.deps.clock.now()).toISOString();
    await setManualReadOnly(db(), true, { at, by: 'admin', reason: 'maintenance' });
    try {
      const started = await call('POST', `${path(p.name)}/executions`, { auth: admin, body: {} });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      const { jobTasks } = tablesOf(db());
      const task = await waitFor(async () => {
        const row = await firstRow(db().select().from(jobTasks).where(eq(jobTasks.executionId, started.body.id)));
        return row && row.status === 'pending' && row.error ? row : null;
      });
      expect(task!.error).toMatch(/read-only/);
      const view = await call('GET', `${path(p.name)}/executions/${started.body.id}`, { auth: admin });
      expect(view.body).toMatchObject({ finishedAt: null, deleted: [] });
      expect(view.body.status).not.toBe('failed');
      const conflict = await refused(suite.api, 409, () => call('POST', `${path(p.name)}/executions`, { auth: admin, body: { dryRun: true } }));
      expect(conflict.body.error.message).toMatch(/has not finished/);
      await stopExecution(contextFor(suite.api.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR), started.body.id);
    } finally {
      await setManualReadOnly(db(), false, { at, by: 'admin', reason: null });
    }
    const { tags } = tablesOf(db());
    expect((await db().select().from(tags).where(eq(tags.digest, dg(11)))).length).toBe(1);
  });
});

describe('a run resumed after a restart', () => {
  it('continues from its checkpoint: deletions behind it are not made again and count as deleted', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    await arrangeTags(p.name, [
      { repo: 'app', tag: 'a', digest: dg(21), daysAgo: 3 },
      { repo: 'app', tag: 'b', digest: dg(22), daysAgo: 2 },
      { repo: 'app', tag: 'c', digest: dg(23), daysAgo: 1 },
    ]);
    expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule({ n: 1 })] } })).status).toBe(200);
    const { projects } = tablesOf(db());
    const projectId = (await firstRow(db().select().from(projects).where(eq(projects.name, p.name))))!.id;
    const ctx = contextFor(suite.api.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
    // An execution row of its own (no task for the runner to claim); its one task is run here by hand.
    const execution = await createExecution(ctx, { kind: RETENTION_JOB, subjectId: projectId, subject: p.name, trigger: 'manual', tasks: [] });
    const saved: unknown[] = [];
    const outcome = await retentionHandler(suite.api.deps)({
      id: 0,
      executionId: execution.id,
      payload: { projectId },
      checkpoint: { done: 2, skipped: [{ repository: `${p.name}/app`, tag: 'a', digest: dg(21), reason: 'gone' }] },
      attempt: 2,
      dryRun: false,
      signal: new AbortController().signal,
      saveCheckpoint: async (value) => void saved.push(value),
      addBytes: () => {},
    });
    expect(outcome.status).toBe('succeeded');
    // The registry is not there: any deletion attempted would have failed the run.
    expect(saved).toEqual([]);
    const view = await call('GET', `${path(p.name)}/executions/${execution.id}`, { auth: admin });
    expect(view.body.deleted.map((d: { tag: string }) => d.tag)).toEqual(['b']);
    expect(view.body.skipped).toEqual([{ repository: `${p.name}/app`, tag: 'a', digest: dg(21), reason: 'gone' }]);
  });
});

describe('a run whose plan is older than the tag state', () => {
  it('skips a tag pushed again since the plan (moved) instead of deleting the new image, and an untagged image tagged since (tagged)', async () => {
    const p = await arrangeProject(suite.api, uniqueName('ret'));
    await arrangeTags(p.name, [
      { repo: 'app', tag: 'old', digest: dg(41), daysAgo: 3 },
      { repo: 'app', tag: 'new', digest: dg(42), daysAgo: 1 },
    ]);
    // An untagged image, planned for deletion by untagged: delete.
    const repo = await ensureRepository(db(), `${p.name}/app`, 'library');
    await upsertManifest(db(), repo.id, { digest: dg(43), pushedAt: new Date(suite.api.deps.clock.now() - 86_400_000).toISOString() });
    expect((await call('PUT', path(p.name), { auth: admin, body: { rules: [rule({ n: 1 })], untagged: 'delete' } })).status).toBe(200);
    const { projects } = tablesOf(db());
    const projectId = (await firstRow(db().select().from(projects).where(eq(projects.name, p.name))))!.id;
    const ctx = contextFor(suite.api.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
    const execution = await createExecution(ctx, { kind: RETENTION_JOB, subjectId: projectId, subject: p.name, trigger: 'manual', tasks: [] });
    const planned = await planProject(db(), projectId, suite.api.deps.clock.now());
    expect(planned.planned.delete.map((d) => d.tag)).toEqual(['old']);
    expect(planned.planned.deleteUntagged.map((d) => d.digest)).toContain(dg(43));
    await setExecutionResult(db(), execution.id, JSON.stringify(planned));
    // Meanwhile "old" is pushed again onto another image, and the untagged image gets a tag.
    await upsertManifest(db(), repo.id, { digest: dg(44), pushedAt: new Date(suite.api.deps.clock.now()).toISOString() });
    await upsertTag(db(), repo.id, { name: 'old', digest: dg(44), pushedAt: new Date(suite.api.deps.clock.now()).toISOString() });
    await upsertTag(db(), repo.id, { name: 'pinned', digest: dg(43), pushedAt: new Date(suite.api.deps.clock.now()).toISOString() });
    const outcome = await retentionHandler(suite.api.deps)({
      id: 0,
      executionId: execution.id,
      payload: { projectId },
      checkpoint: null,
      attempt: 1,
      dryRun: false,
      signal: new AbortController().signal,
      saveCheckpoint: async () => {},
      addBytes: () => {},
    });
    // No deletion was attempted: the in-process suite has no registry, so one would have failed the run.
    expect(outcome.status).toBe('succeeded');
    const view = await call('GET', `${path(p.name)}/executions/${execution.id}`, { auth: admin });
    expect(view.body.skipped).toEqual(
      expect.arrayContaining([
        { repository: `${p.name}/app`, tag: 'old', digest: dg(41), reason: 'moved' },
        { repository: `${p.name}/app`, tag: null, digest: dg(43), reason: 'tagged' },
      ]),
    );
    const { tags } = tablesOf(db());
    expect((await db().select().from(tags).where(eq(tags.digest, dg(44)))).map((t) => t.name)).toEqual(['old']);
  });
});
