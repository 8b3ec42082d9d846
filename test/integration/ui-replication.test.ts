import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/context';
import { createProject } from '../../src/access/projects';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { userPrincipal } from '../../src/identity/authenticate';
import { createUser, findUser } from '../../src/identity/users';
import { getExecution } from '../../src/jobs/executions';
import { registryByName } from '../../src/replication/store';
import { waitFor } from '../support/wait';
import { i18n, MESSAGES, type MessageKey } from '../../ui/i18n';
import { startAppInstance, type AppInstance } from '../support/instance';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { registries, replicationPolicies, systemRobots } from '../support/tables';

/**
 * The replication pages in-process against a real plain registry (htpasswd Basic) for ping:
 * registries, policies with the filter preview, system robots. Each form's success and refusal
 * (shown on the form, never a 500), CSRF required, non-admins refused with nothing stored.
 */

const HTPASSWD = { username: 'copier', password: 'copier-password-1' };
const DIGEST = `sha256:${'c'.repeat(64)}`;
const { t } = i18n('en');
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

let running: AppInstance;
let plain: PlainRegistry;
const sessions: Record<string, { cookie: string; csrf: string }> = {};
const db = () => running.instance.deps.db;

async function get(pathname: string, as = 'admin') {
  const res = await running.app.request(pathname, { headers: { cookie: `wharf_lang=en; ${sessions[as]?.cookie ?? ''}` } });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

async function post(pathname: string, fields: Record<string, string | string[]>, as = 'admin', withCsrf = true) {
  const body = new URLSearchParams(withCsrf ? { _csrf: sessions[as]!.csrf } : {});
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  const res = await running.app.request(pathname, {
    method: 'POST',
    headers: { cookie: `wharf_lang=en; ${sessions[as]!.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

const count = async (table: typeof registries | typeof replicationPolicies | typeof systemRobots) => (await db().select().from(table)).length;

/** A policy form as the page sends it: the defaults of a new push policy, with these fields changed. */
const policyForm = (fields: Record<string, string | string[]>) => ({
  direction: 'push',
  registry: 'site',
  project: 'team',
  repositories: '',
  excludeRepositories: '',
  tags: '',
  excludeTags: '',
  destination: '',
  override: 'true',
  triggerType: 'manual',
  cron: '',
  concurrency: '4',
  bandwidthKBps: '',
  description: '',
  ...fields,
});

beforeAll(async () => {
  // One attempt per task: a copy from this instance's registry (none listens) fails at once, with its reason.
  [running, plain] = await Promise.all([startAppInstance('wharf-ui-replication-', undefined, { replication: { maxAttempts: 1 } }), startPlainRegistry({ htpasswd: HTPASSWD })]);
  const actor = { username: 'admin' };
  const admin = contextFor(running.instance.deps, userPrincipal((await findUser(db(), 'admin'))!, 'password'), actor);
  await createUser(admin, { username: 'alice', password: 'alice-password-1' });
  await createProject(admin, { name: 'team', public: false });
  for (const [name, tags] of [
    ['team/app', ['v1', 'v2', 'latest']],
    ['team/tools/lint', ['v1']],
  ] as const) {
    const repo = await ensureRepository(db(), name, 'library');
    await upsertManifest(db(), repo.id, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    for (const tag of tags) await upsertTag(db(), repo.id, { name: tag, digest: DIGEST, pushedAt: new Date().toISOString(), pushedBy: 'admin' });
  }
  for (const u of ['admin', 'alice']) sessions[u] = await running.session(u);
}, 60_000);

afterAll(async () => {
  await running?.stop();
  await plain?.stop();
});

describe('registries pages', () => {
  it('add: stored with the password sealed; a bad URL or kind is told on the form with what was typed, nothing stored', async () => {
    const bad = await post('/replication/registries', { name: 'broken', url: 'ftp://example.org', kind: 'distribution', username: 'u', password: 'p' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain(escape(t('err.registry.badUrl')));
    expect(bad.body).toContain('value="broken"');
    expect(bad.body).not.toContain('value="p"');
    const kind = await post('/replication/registries', { name: 'broken', url: plain.url, kind: 'quay' });
    expect(kind.status).toBe(400);
    expect(kind.body).toContain(escape(t('err.form.unknownKind')));
    expect(await count(registries)).toBe(0);

    const added = await post('/replication/registries', { name: 'site', url: plain.url, kind: 'distribution', username: HTPASSWD.username, password: HTPASSWD.password, insecure: 'true' });
    expect(added.status).toBe(303);
    expect(added.location).toBe('/replication/registries/site?done=registryCreated');
    const row = (await registryByName(db(), 'site'))!;
    expect(row).toMatchObject({ url: plain.url, username: HTPASSWD.username, insecure: true });
    expect(row.passwordSealed).not.toContain(HTPASSWD.password);
    const page = await get(added.location!);
    expect(page.body).toContain(escape(t('notice.registryCreated')));
    expect(page.body).not.toContain(HTPASSWD.password);
    const again = await post('/replication/registries', { name: 'site', url: plain.url, kind: 'distribution' });
    expect(again.status).toBe(409);
    expect(again.body).toContain(escape(t('err.registry.exists', { name: 'site' })));
  });

  it('ping shows ok and the auth kind; with wrong credentials it says it failed and why', async () => {
    const ok = await post('/replication/registries/site/ping', {});
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('data-ping="ok"');
    expect(ok.body).toContain(t('registries.auth.basic'));
    await post('/replication/registries', { name: 'wrong', url: plain.url, kind: 'distribution', username: HTPASSWD.username, password: 'not-the-password' });
    const failed = await post('/replication/registries/wrong/ping', {});
    expect(failed.status).toBe(200);
    expect(failed.body).toContain('data-ping="failed"');
    expect(failed.body).toContain(t('registries.pingFailed'));
    expect(failed.body).toContain('class="error-text"');
  });

  it('edit: an empty password keeps the stored one, the checkbox clears it; a bad CA is told on the form', async () => {
    const before = (await registryByName(db(), 'wrong'))!.passwordSealed;
    const form = { url: plain.url, kind: 'distribution', username: HTPASSWD.username, password: '', description: 'second site' };
    expect((await post('/replication/registries/wrong', form)).location).toBe('/replication/registries/wrong?done=registryUpdated');
    expect(await registryByName(db(), 'wrong')).toMatchObject({ passwordSealed: before, description: 'second site' });
    const badCa = await post('/replication/registries/wrong', { ...form, caPem: 'not a certificate' });
    expect(badCa.status).toBe(400);
    expect(badCa.body).toContain(escape(t('err.registry.badCa')));
    expect(badCa.body).toContain('not a certificate');
    expect((await registryByName(db(), 'wrong'))!.caPem).toBeNull();
    expect((await post('/replication/registries/wrong', { ...form, clearPassword: 'true' })).status).toBe(303);
    expect((await registryByName(db(), 'wrong'))!.passwordSealed).toBeNull();
    expect((await get('/replication/registries/nosuch')).status).toBe(404);
  });
});

describe('policies pages', () => {
  it('the filter preview lists the tasks a run would do and the total, storing nothing', async () => {
    const preview = await post('/replication/policies', policyForm({ name: 'to-site', intent: 'preview', repositories: 'app\ntools/**', excludeTags: 'latest' }));
    expect(preview.status).toBe(200);
    expect(preview.body).toContain('data-preview-total="3"');
    for (const task of ['team/app:v1', 'team/app:v2', 'team/tools/lint:v1']) expect(preview.body).toContain(`<code>${task}</code>`);
    expect(preview.body).not.toContain('team/app:latest');
    expect(preview.body).toContain('<code>team/app</code>');
    expect(preview.body).toContain('tools/**'); // the form comes back as typed
    expect(await count(replicationPolicies)).toBe(0);
  });

  it('create: refusals are told on the form (bad glob, bad cron, unknown registry, pull with an event trigger), nothing stored', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{ tags: '[' }, 400, 'replication.badGlob'],
      [{ triggerType: 'cron', cron: 'every day' }, 400, 'replication.badCron'],
      [{ registry: 'nosuch' }, 404, 'registry.notFound'],
      [{ direction: 'pull', triggerType: 'event' }, 422, 'replication.pullEvent'],
      [{ concurrency: 'lots' }, 400, 'replication.badConcurrency'],
      [{ name: 'Bad Name' }, 400, 'replication.badName'],
    ];
    for (const [fields, status, key] of cases) {
      const r = await post('/replication/policies', policyForm({ name: 'to-site', ...fields }));
      expect(r.status, `${key}: ${r.body.slice(0, 200)}`).toBe(status);
      expect(r.body).toContain('class="alert alert-error"');
      expect(r.body).toContain('action="/replication/policies"');
      // The localized reason, whatever its placeholders hold.
      const template = escape(MESSAGES.en[`err.${key}` as MessageKey]);
      expect(r.body, key).toMatch(new RegExp(template.split(/\{\w+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*?')));
    }
    expect(await count(replicationPolicies)).toBe(0);

    const created = await post('/replication/policies', policyForm({ name: 'to-site', tags: 'v*', enabled: '', replicateExisting: '' }));
    expect(created.location).toBe('/replication/policies/to-site?done=policyCreated');
    const page = await get(created.location!);
    expect(page.body).toContain(escape(t('notice.policyCreated')));
    expect(page.body).toMatch(/<textarea name="tags"[^>]*>v\*<\/textarea>/);
    const list = await get('/replication/policies');
    expect(list.body).toContain('data-policy="to-site"');
    expect(list.body).toContain(t('policies.off'));
  });

  it('edit, enable and disable, and delete (then the registry can go)', async () => {
    const edited = await post('/replication/policies/to-site', policyForm({ tags: 'v*', triggerType: 'cron', cron: '0 3 * * *', bandwidthKBps: '512' }));
    expect(edited.location).toBe('/replication/policies/to-site?done=policyUpdated');
    const [row] = await db().select().from(replicationPolicies);
    expect(row).toMatchObject({ triggerType: 'cron', triggerCron: '0 3 * * *', bandwidthKBps: 512, enabled: false });
    const refused = await post('/replication/policies/to-site', policyForm({ bandwidthKBps: '-1' }));
    expect(refused.status).toBe(400);
    expect(refused.body).toContain(escape(t('err.replication.badBandwidth')));

    expect((await post('/replication/policies/to-site/enabled', { enabled: 'true' })).status).toBe(303);
    expect((await db().select().from(replicationPolicies))[0]!.enabled).toBe(true);
    expect((await post('/replication/policies/to-site/enabled', { enabled: 'false' })).status).toBe(303);
    expect((await db().select().from(replicationPolicies))[0]!.enabled).toBe(false);

    // The registry a policy uses cannot be deleted; the list says which policy.
    expect((await get('/replication/registries/site/delete')).body).toContain('action="/replication/registries/site/delete"');
    const inUse = await post('/replication/registries/site/delete', {});
    expect(inUse.status).toBe(409);
    expect(inUse.body).toContain(escape(t('err.registry.inUse', { name: 'site', policies: 'to-site' })));
    expect((await get('/replication/policies/to-site/delete')).body).toContain('action="/replication/policies/to-site/delete"');
    expect((await post('/replication/policies/to-site/delete', {})).location).toBe('/replication/policies?done=policyDeleted');
    expect((await post('/replication/registries/site/delete', {})).location).toBe('/replication/registries?done=registryDeleted');
    expect(await registryByName(db(), 'site')).toBeUndefined();
    expect((await post('/replication/policies/to-site/enabled', { enabled: 'true' })).status).toBe(404);
  });
});

describe('system robots page', () => {
  it('create shows the secret once; refusals are told on the form; disable, enable, delete', async () => {
    const badName = await post('/robots', { name: 'Bad Name', permissions: 'pull', projects: 'team' });
    expect(badName.status).toBe(400);
    expect(badName.body).toContain(escape(t('err.robot.badName')));
    const unknown = await post('/robots', { name: 'replicator', permissions: ['pull', 'push'], projects: 'team\nnosuch' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain(escape(t('err.robot.unknownProject', { name: 'nosuch' })));
    const none = await post('/robots', { name: 'replicator', projects: 'team' });
    expect(none.body).toContain(escape(t('err.robot.noPermissions')));
    expect(await count(systemRobots)).toBe(0);

    const created = await post('/robots', { name: 'replicator', permissions: ['pull', 'push'], projects: 'team', createProjects: 'true' });
    expect(created.status).toBe(200);
    const secret = /<code class="secret"[^>]*>([^<]+)<\/code>/.exec(created.body)?.[1];
    expect(secret).toBeTruthy();
    const list = await get('/robots');
    expect(list.body).toContain('data-robot="robot$replicator"');
    expect(list.body).not.toContain(secret!);
    expect(list.body).toContain(t('systemRobots.createsProjects'));

    expect((await post('/robots/update', { robot: 'robot$replicator', disabled: 'true' })).location).toBe('/robots?done=robotUpdated');
    expect((await db().select().from(systemRobots))[0]!.disabled).toBe(true);
    expect((await post('/robots/update', { robot: 'robot$replicator', disabled: 'false' })).status).toBe(303);
    expect((await db().select().from(systemRobots))[0]!.disabled).toBe(false);
    expect((await post('/robots/delete', { robot: 'robot$replicator' })).location).toBe('/robots?done=robotDeleted');
    expect(await count(systemRobots)).toBe(0);
  });
});

describe('executions pages', () => {
  // Runs stay pending (to be seen running and stopped) until the runner is started again below.
  beforeAll(async () => {
    await running.instance.startJobs().stop();
  });
  const executionIdOf = (location: string | null) => Number(/^\/replication\/executions\/(\d+)\?done=executionStarted$/.exec(location ?? '')?.[1]);

  it('a dry run lists every task skipped with its reason and copies nothing; the policy page lists it', async () => {
    const created = await post('/replication/policies', policyForm({ name: 'runs', registry: 'wrong', replicateExisting: '', enabled: 'true' }));
    expect(created.location).toBe('/replication/policies/runs?done=policyCreated');
    const policyPage = (await get('/replication/policies/runs')).body;
    expect(policyPage).toContain('action="/replication/policies/runs/run"');
    expect(policyPage).toContain(t('executions.none'));
    const run = await post('/replication/policies/runs/run', { dryRun: 'true' });
    expect(run.status).toBe(303);
    const id = executionIdOf(run.location);
    const page = await get(run.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain(escape(t('notice.executionStarted')));
    expect(page.body).toContain(t('executions.dryRun'));
    expect(page.body).toContain('data-progress="0/0/4/4"');
    expect(page.body).not.toContain('http-equiv="refresh"');
    expect(page.body.match(/data-status="skipped"/g)).toHaveLength(4);
    expect(page.body).toContain(escape(t('tasks.reason.dry_run')));
    expect(page.body).not.toContain(`action="/replication/executions/${id}/retry"`);
    expect((await get('/replication/policies/runs')).body).toContain(`data-execution="${id}"`);
  });

  it('a run follows with a refresh, stops, and retried fails with each task\'s reason; the lists show it', async () => {
    const run = await post('/replication/policies/runs/run', {});
    const id = executionIdOf(run.location);
    const running1 = await get(`/replication/executions/${id}`);
    expect(running1.body).toContain('<meta http-equiv="refresh" content="3"/>');
    expect(running1.body).toContain(`action="/replication/executions/${id}/stop"`);
    expect((await post(`/replication/executions/${id}/retry`, {})).status).toBe(409);

    expect((await post(`/replication/executions/${id}/stop`, {})).location).toBe(`/replication/executions/${id}?done=executionStopped`);
    expect(await getExecution(db(), id)).toMatchObject({ status: 'stopped', stopped: 4 });
    const again = await post(`/replication/executions/${id}/stop`, {});
    expect(again.status).toBe(409);
    expect(again.body).toContain(escape(t('err.execution.finished', { id })));

    running.instance.deps.jobs.start();
    expect((await post(`/replication/executions/${id}/retry`, {})).location).toBe(`/replication/executions/${id}?done=executionRetried`);
    await waitFor(async () => (await getExecution(db(), id))?.finishedAt != null, 20_000, 'the retried execution to finish');
    expect(await getExecution(db(), id)).toMatchObject({ status: 'failed', failed: 4 });
    const failed = await get(`/replication/executions/${id}?status=failed`);
    expect(failed.body.match(/data-status="failed"/g)).toHaveLength(4);
    expect(failed.body.match(/<pre class="error-text">[^<]+<\/pre>/g)).toHaveLength(4);
    expect(failed.body).toContain(`action="/replication/executions/${id}/retry"`);
    expect((await get(`/replication/executions/${id}?status=succeeded`)).body).toContain(t('tasks.none'));

    const list = await get('/replication/executions?policy=runs');
    expect(list.body.match(/data-execution="/g)).toHaveLength(2);
    expect((await get('/replication/executions?status=failed')).body.match(/data-execution="/g)).toHaveLength(1);
    expect((await get('/replication/executions?policy=nosuch')).status).toBe(404);
    expect((await get('/replication/executions/999999')).status).toBe(404);
    expect((await get('/replication/executions/not-a-number')).status).toBe(404);
    expect((await get('/replication/policies')).body).toMatch(/data-policy="runs"[\s\S]*?badge-bad/);
  });

  it('non-admins and forms without the CSRF token are refused', async () => {
    const [newest] = (await get('/replication/executions')).body.match(/data-execution="(\d+)"/) ?? [];
    const id = Number(/\d+/.exec(newest ?? '')?.[0]);
    for (const page of ['/replication/executions', `/replication/executions/${id}`]) expect((await get(page, 'alice')).status, page).toBe(403);
    for (const path of ['/replication/policies/runs/run', `/replication/executions/${id}/retry`, `/replication/executions/${id}/stop`]) {
      expect((await post(path, {}, 'alice')).status, path).toBe(403);
      expect((await post(path, {}, 'admin', false)).status, path).toBe(403);
    }
    expect((await get('/replication/executions?policy=runs')).body.match(/data-execution="/g)).toHaveLength(2);
    expect((await post('/replication/policies/runs/delete', {})).status).toBe(303);
  });
});

describe('who may use the pages', () => {
  const pages = ['/replication/registries', '/replication/registries/wrong', '/replication/policies', '/replication/new-policy', '/robots'];
  const posts: [string, Record<string, string>][] = [
    ['/replication/registries', { name: 'sneaky', url: 'https://example.org', kind: 'distribution' }],
    ['/replication/registries/wrong/delete', {}],
    ['/replication/registries/wrong/ping', {}],
    ['/replication/policies', policyForm({ name: 'sneaky', registry: 'wrong' })],
    ['/robots', { name: 'sneaky', permissions: 'pull', projects: 'team' }],
  ];

  it('a non-admin is refused every page and form, and nothing changes; anonymous visitors are sent to sign in', async () => {
    for (const page of pages) {
      expect((await get(page, 'alice')).status, page).toBe(403);
      const anonymous = await get(page, 'nobody');
      expect(anonymous.status, page).toBe(303);
      expect(anonymous.location).toMatch(/^\/login\?next=/);
    }
    for (const [path, fields] of posts) expect((await post(path, fields, 'alice')).status, path).toBe(403);
    const nav = (await get('/projects', 'alice')).body;
    expect(nav).not.toContain('href="/replication/policies"');
    expect(nav).not.toContain('href="/robots"');
    expect((await get('/projects')).body).toContain('href="/replication/policies"');
  });

  it('every form needs the CSRF token', async () => {
    for (const [path, fields] of posts) expect((await post(path, fields, 'admin', false)).status, path).toBe(403);
    expect((await db().select().from(registries)).map((r) => r.name)).toEqual(['wrong']);
    expect(await count(replicationPolicies)).toBe(0);
    expect(await count(systemRobots)).toBe(0);
  });
});
