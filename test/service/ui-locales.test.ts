import { contextFor } from '../../src/context';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/identity/sessions';
import { createUser, findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { createProject, setMember } from '../../src/access/projects';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { recordAudit } from '../../src/audit/record';
import { createSystemRobot } from '../../src/access/system-robots';
import { createPolicy } from '../../src/replication/policies';
import { createRegistry } from '../../src/replication/registries';
import { policyRowByName } from '../../src/replication/store';
import { startPolicyExecution } from '../../src/replication/run';
import { i18n, LOCALES, MESSAGES, type Locale } from '../../ui/i18n';
import { startAppInstance, type AppInstance } from '../support/instance';

const en = MESSAGES.en;
const enKeys = Object.keys(en).sort();

/** Every page in every locale, and forms, through the in-process app on a migrated database. */

let running: AppInstance;
let app: AppInstance['app'];
let adminCookie: string;
let adminCsrf: string;
const DIGEST = `sha256:${'a'.repeat(64)}`;

beforeAll(async () => {
  running = await startAppInstance('wharf-ui-unit-');
  app = running.app;
  const { deps } = running.instance;
  const admin = (await findUser(deps.db, 'admin'))!;
  ({ cookie: adminCookie, csrf: adminCsrf } = await running.session('admin'));
  const actor = { username: 'admin' };
  await createUser({ db: deps.db, actor: actor }, { username: 'alice', password: 'alice-password-1' });
  await createProject(contextFor(deps, userPrincipal(admin, 'password'), actor), { name: 'team', public: false });
  await setMember(contextFor(deps, userPrincipal(admin, 'password'), actor), 'team', 'alice', 'guest');
  const repo = await ensureRepository(deps.db, 'team/app', 'library');
  await upsertManifest(deps.db, repo.id, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  await upsertTag(deps.db, repo.id, { name: 'v1', digest: DIGEST, pushedAt: new Date().toISOString(), pushedBy: 'admin' });
  await upsertTag(deps.db, repo.id, { name: 'latest', digest: DIGEST, pushedAt: new Date().toISOString(), pushedBy: 'admin' });
  const adminCtx = contextFor(deps, userPrincipal(admin, 'password'), actor);
  await createRegistry(adminCtx, { name: 'site', url: 'https://registry.example.org', kind: 'distribution', username: 'copier', password: 'copier-password-1' });
  await createPolicy(adminCtx, { name: 'to-site', direction: 'push', registry: 'site', project: 'team', trigger: { type: 'cron', cron: '0 3 * * *' }, filters: { tags: ['v*'] }, enabled: false, replicateExisting: false });
  await startPolicyExecution(adminCtx, (await policyRowByName(deps.db, 'to-site'))!, { trigger: 'manual', dryRun: true });
  await createSystemRobot(adminCtx, { name: 'replicator', permissions: ['pull', 'push'], projects: ['team'], createProjects: true });
  await recordAudit(deps.db, { username: 'admin', action: 'push', resourceType: 'manifest', resource: 'team/app:v1', project: 'team', repository: 'team/app', tag: 'v1', digest: DIGEST });
});

afterAll(async () => {
  await running?.stop();
});

/** Visible text of a page: tags, scripts and attribute values removed. */
const textOf = (html: string) => html.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ');

function assertNoRawKeys(html: string, where: string) {
  const text = textOf(html);
  const raw = enKeys.filter((k) => text.includes(k));
  expect(raw, `${where} shows raw message keys`).toEqual([]);
}

async function get(pathname: string, locale: Locale, cookie = adminCookie) {
  const res = await app.request(pathname, { headers: { cookie: `wharf_lang=${locale}; ${cookie}` } });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const ADMIN_PAGES = [
  '/projects',
  '/projects?q=zzz',
  '/projects/team',
  '/repositories/team/app',
  `/delete/tag?repository=team%2Fapp&tag=v1`,
  `/delete/image?repository=team%2Fapp&digest=${encodeURIComponent(DIGEST)}`,
  '/audit',
  '/audit?since=not-a-date',
  '/users',
  '/account',
  '/system',
  '/replication/registries',
  '/replication/registries/site',
  '/replication/registries/site/delete',
  '/replication/policies',
  '/replication/new-policy',
  '/replication/policies/to-site',
  '/replication/policies/to-site/delete',
  '/robots',
  '/replication/executions',
  '/replication/executions/1',
  '/replication/executions/1?status=skipped',
  '/no-such-page',
];

describe('every page in every locale', () => {
  for (const locale of LOCALES) {
    it(`${locale}: admin pages render translated, with lang, CSP and no raw keys`, async () => {
      for (const page of ADMIN_PAGES) {
        const res = await get(page, locale);
        expect(res.status, `${page} → ${res.body.slice(0, 300)}`).toBe(page === '/no-such-page' ? 404 : 200);
        expect(res.headers.get('content-type')).toContain('text/html');
        expect(res.body).toContain(`<html lang="${locale}">`);
        expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
        expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
        expect(res.body).not.toMatch(/<[a-z]+[^>]* style=/);
        assertNoRawKeys(res.body, `${locale} ${page}`);
        // Every POST form carries the CSRF token.
        const forms = res.body.match(/<form method="post"[\s\S]*?<\/form>/g) ?? [];
        for (const form of forms) expect(form, `${page} form`).toContain(`name="_csrf" value="${adminCsrf}"`);
        expect(res.body).toContain(MESSAGES[locale]['nav.projects']);
        expect(res.body).toContain(MESSAGES[locale]['nav.system']);
      }
    });

    it(`${locale}: anonymous pages (sign in, public projects) render translated`, async () => {
      for (const page of ['/login', '/projects']) {
        const res = await get(page, locale, '');
        expect(res.status).toBe(200);
        assertNoRawKeys(res.body, `${locale} ${page}`);
        expect(res.body).toContain(MESSAGES[locale]['nav.signIn']);
        expect(res.body).not.toContain(MESSAGES[locale]['nav.audit']);
        expect(res.body).toMatch(/name="_csrf" value="[A-Za-z0-9_-]{32}"/);
      }
    });

    it(`${locale}: a new token page shows its secret once, translated`, async () => {
      const res = await app.request('/account/tokens', {
        method: 'POST',
        headers: { cookie: `wharf_lang=${locale}; ${adminCookie}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: adminCsrf, name: `t-${locale}` }).toString(),
      });
      const body = await res.text();
      expect(res.status).toBe(200);
      expect(body).toMatch(/wpat_[A-Za-z0-9_-]+/);
      assertNoRawKeys(body, `${locale} token created`);
    });
  }

  it('Accept-Language picks the language when no cookie is set', async () => {
    const res = await app.request('/login', { headers: { 'accept-language': 'ja-JP,ja;q=0.9,en;q=0.8' } });
    const body = await res.text();
    expect(body).toContain('<html lang="ja">');
    expect(body).toContain(MESSAGES.ja['login.title']);
  });

  it('the language selector sets the cookie and returns to the page', async () => {
    const first = await app.request('/login');
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await first.text())![1]!;
    const res = await app.request('/lang', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, lang: 'ru', return: '/login' }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login');
    expect(res.headers.get('set-cookie')).toContain('wharf_lang=ru');
    // Without the token the anonymous form is refused.
    const forged = await app.request('/lang', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ lang: 'ru', return: '//evil.example' }).toString(),
    });
    expect(forged.status).toBe(403);
  });

  it('text from requests is escaped, never markup', async () => {
    const res = await get(`/projects?q=${encodeURIComponent('<script>alert(1)</script>')}`, 'en');
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('API paths keep their JSON 404; static files are served with their types', async () => {
    const api = await app.request('/api/v1/nope');
    expect(api.status).toBe(404);
    expect(await api.json()).toEqual({ error: { code: 'not_found', message: 'no such endpoint' } });
    const css = await app.request('/ui/static/wharf.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    const js = await app.request('/ui/static/wharf.js');
    expect(js.headers.get('content-type')).toContain('javascript');
    expect((await app.request('/ui/static/..%2Fi18n.ts')).status).toBe(404);
    expect((await app.request('/ui/static/constructor')).status).toBe(404);
    expect((await get('/projects?done=constructor', 'en')).body).not.toContain('native code');
  });

  it('a guest sees no delete or member controls, and a forged delete is refused', async () => {
    const alice = (await findUser(running.instance.deps.db, 'alice'))!;
    const s = await createSession(running.instance.deps, userPrincipal(alice, 'password'), {});
    const cookie = `wharf_session=${s.cookieValue}`;
    const repo = await get('/repositories/team/app', 'en', cookie);
    expect(repo.status).toBe(200);
    expect(repo.body).not.toContain('/delete/tag');
    expect(repo.body).not.toContain('/delete/image');
    const project = await get('/projects/team', 'en', cookie);
    expect(project.body).not.toContain('/members/remove');
    expect(project.body).not.toContain('nav.users');
    expect(project.body).not.toContain('href="/users"');
    expect((await get('/delete/tag?repository=team%2Fapp&tag=v1', 'en', cookie)).status).toBe(403);
    const forged = await app.request('/delete/tag', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: s.csrfToken, repository: 'team/app', tag: 'v1' }).toString(),
    });
    expect(forged.status).toBe(403);
    expect((await get('/users', 'en', cookie)).status).toBe(403);
    expect((await get('/system', 'en', cookie)).status).toBe(403);
  });
});

async function post(pathname: string, fields: Record<string, string | string[]>, cookie = adminCookie, csrf = adminCsrf) {
  const body = new URLSearchParams();
  if (csrf) body.append('_csrf', csrf);
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  const res = await app.request(pathname, {
    method: 'POST',
    headers: { cookie: `wharf_lang=en; ${cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

describe('forms through the app', () => {
  it('projects are paged in the database, 25 a page', async () => {
    const admin = userPrincipal((await findUser(running.instance.deps.db, 'admin'))!, 'password');
    for (let i = 0; i < 30; i++) await createProject(contextFor(running.instance.deps, admin, { username: 'admin' }), { name: `bulk${String(i).padStart(2, '0')}` });
    const first = await get('/projects?q=bulk', 'en');
    expect(first.body).toContain('Page 1 of 2');
    expect(first.body).toContain('bulk24');
    expect(first.body).not.toContain('bulk25');
    expect(first.body).toContain('href="/projects?q=bulk&amp;page=2"');
    const second = await get('/projects?q=bulk&page=2', 'en');
    expect(second.body).toContain('bulk29');
    expect(second.body).not.toContain('>bulk24<');
  });

  it('a project admin adds, changes and removes a member; a bad role is refused', async () => {
    await createUser({ db: running.instance.deps.db, actor: { username: 'admin' } }, { username: 'bob', password: 'bob-password-1' });
    let res = await post('/projects/team/members', { username: 'bob', role: 'developer' });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/projects/team?done=memberSaved');
    expect((await get('/projects/team', 'en')).body).toMatch(/<td>bob<\/td>/);
    res = await post('/projects/team/members', { username: 'bob', role: 'owner' });
    expect(res.status).toBe(400);
    expect(res.body).toContain(i18n('en').t('err.form.unknownRole'));
    res = await post('/projects/team/members', { username: 'nobody', role: 'guest' });
    expect(res.status).toBe(404);
    res = await post('/projects/team/members/remove', { username: 'bob' });
    expect(res.location).toBe('/projects/team?done=memberRemoved');
    expect((await get('/projects/team', 'en')).body).not.toMatch(/<td>bob<\/td>/);
  });

  it('an admin makes a user admin and disables them; never themselves', async () => {
    expect((await post('/users/bob', { admin: 'true' })).location).toBe('/users?done=userUpdated');
    expect((await findUser(running.instance.deps.db, 'bob'))!.admin).toBe(true);
    expect((await post('/users/bob', { disabled: 'true' })).status).toBe(303);
    expect((await findUser(running.instance.deps.db, 'bob'))!.disabled).toBe(true);
    const self = await post('/users/admin', { disabled: 'true' });
    expect(self.status).toBe(409);
    expect(self.body).toContain('alert-error');
    expect((await post('/users/bob', {})).status).toBe(400);
  });

  it('a robot is created with its permissions, its secret shown once, then deleted', async () => {
    const res = await post('/projects/team/robots', { name: 'ci', permissions: ['pull', 'push'] });
    expect(res.status).toBe(200);
    expect(res.body).toContain('robot$team+ci');
    expect(res.body).toMatch(/<code class="secret"[^>]*>wrb_[A-Za-z0-9_-]+<\/code>/);
    const page = (await get('/projects/team', 'en')).body;
    expect(page).toContain('pull, push');
    expect(page).not.toMatch(/wrb_/);
    const del = await post('/projects/team/robots/delete', { robot: 'robot$team+ci' });
    expect(del.location).toBe('/projects/team?done=robotDeleted');
    expect((await get('/projects/team', 'en')).body).not.toContain('robot$team+ci');
  });

  it('a session form without its CSRF token is refused', async () => {
    const res = await post('/projects', { name: 'forged' }, adminCookie, '');
    expect(res.status).toBe(403);
    expect(res.body).toContain('This form has expired');
    expect(res.body).not.toMatch(/at .*\.ts:\d+/);
  });
});

