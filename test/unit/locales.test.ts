import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { createSession } from '../../src/identity/sessions';
import { createUser, findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { createProject, setMember } from '../../src/access/projects';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/state';
import { recordAudit } from '../../src/audit/record';
import { chooseLocale, expandPlurals, fromAcceptLanguage, i18n, LOCALES, MESSAGES, type Locale } from '../../ui/i18n';
import { localPath, registryHost } from '../../ui/view';
import { ERROR_TEXTS } from '../../src/errors';
import { startAppInstance, type AppInstance } from '../support/instance';

const en = MESSAGES.en;
const enKeys = Object.keys(en).sort();
/** The variables a message uses: `{name}` and the `{count, plural, ...}` selector, each once. */
const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)(?:\}|, plural,)/g)].map((m) => m[1]))].sort();

describe('locale files', () => {
  for (const locale of LOCALES) {
    it(`${locale} has exactly the keys of en.json, none empty, the same placeholders`, () => {
      const messages = MESSAGES[locale] as Record<string, string>;
      expect(Object.keys(messages).sort()).toEqual(enKeys);
      for (const key of enKeys) {
        expect(typeof messages[key], key).toBe('string');
        expect(messages[key]!.trim(), `${locale} ${key}`).not.toBe('');
        expect(placeholders(messages[key]!), `${locale} ${key}`).toEqual(placeholders(en[key as keyof typeof en]));
      }
    });
  }

  it('every error a person can meet has an err.* message with the placeholders of its English API text, and no other err.* exists', () => {
    const errKeys = enKeys.filter((k) => k.startsWith('err.'));
    expect(errKeys).toEqual(Object.keys(ERROR_TEXTS).map((k) => `err.${k}`).sort());
    for (const [key, text] of Object.entries(ERROR_TEXTS))
      expect(placeholders(en[`err.${key}` as keyof typeof en]), key).toEqual(placeholders(text));
  });

  it('non-English locales are actually translated (most values differ from English)', () => {
    for (const locale of LOCALES.filter((l) => l !== 'en')) {
      const same = enKeys.filter((k) => (MESSAGES[locale] as Record<string, string>)[k] === (en as Record<string, string>)[k]);
      expect(same.length, `${locale}: ${same.join(', ')}`).toBeLessThan(enKeys.length * 0.1);
    }
  });
});

describe('plurals', () => {
  it('pick the branch by the locale\'s plural rules; # is the formatted number; other placeholders still fill in', () => {
    const en = i18n('en');
    expect(en.t('audit.count', { count: 1 })).toBe('1 entry');
    expect(en.t('audit.count', { count: 1234 })).toBe('1,234 entries');
    expect(en.t('projects.resultsFor', { count: 1, q: 'x' })).toBe('1 result for “x”');
    expect(en.t('err.project.notEmpty', { name: 'team', count: 1 })).toBe('The project team still has 1 repository. Delete it first.');
    expect(en.t('err.project.notEmpty', { name: 'team', count: 2 })).toBe('The project team still has 2 repositories. Delete them first.');
    expect(i18n('de').t('audit.count', { count: 1 })).toBe('1 Eintrag');
    expect(i18n('de').t('audit.count', { count: 1000 })).toBe('1.000 Einträge');
    const numbers = new Intl.NumberFormat('ru');
    const ru = new Intl.PluralRules('ru');
    const tpl = '{n, plural, one {# тег} few {# тега} many {# тегов} other {# тега}} в {repo}';
    expect([1, 3, 5, 21].map((n) => expandPlurals(tpl, { n, repo: 'x' }, ru, numbers))).toEqual(['1 тег в {repo}', '3 тега в {repo}', '5 тегов в {repo}', '21 тег в {repo}']);
    expect(expandPlurals('{n, plural, =0 {none} other {#}}', { n: 0 }, ru, numbers)).toBe('none');
    // Malformed selectors never throw: an unknown branch keyword leaves the message as written.
    expect(expandPlurals('{n, plural, single {x}}', { n: 1 }, ru, numbers)).toBe('{n, plural, single {x}}');
  });

  it('no message in any locale is left with a plural selector after filling in', () => {
    for (const locale of LOCALES) {
      const { t } = i18n(locale);
      for (const key of enKeys) {
        const text = t(key as keyof typeof en, { count: 2, name: 'n', q: 'q', project: 'p' });
        expect(text, `${locale} ${key}`).not.toMatch(/, plural,/);
      }
    }
  });
});

describe('language choice and formatting', () => {
  it('the cookie wins; then Accept-Language with q-values; then English', () => {
    expect(chooseLocale('de', 'ja')).toBe('de');
    expect(chooseLocale('xx', 'ja,en;q=0.5')).toBe('ja');
    expect(chooseLocale(undefined, 'fr-FR,ru;q=0.8,de;q=0.9')).toBe('de');
    expect(chooseLocale(undefined, 'zh-Hans-CN;q=0.9')).toBe('zh-CN');
    expect(chooseLocale(undefined, 'zh')).toBe('zh-CN');
    expect(fromAcceptLanguage('zh-TW')).toBeNull();
    expect(chooseLocale(undefined, 'fr, *;q=0.1')).toBe('en');
    expect(chooseLocale(undefined, undefined)).toBe('en');
    expect(chooseLocale(undefined, 'ru;q=0, de-AT')).toBe('de');
  });

  it('numbers, sizes and dates follow the locale', () => {
    expect(i18n('de').number(1234567)).toBe('1.234.567');
    expect(i18n('en').number(1234567)).toBe('1,234,567');
    expect(i18n('ru').number(1234567).replace(/\s/g, ' ')).toBe('1 234 567');
    expect(i18n('en').bytes(1_500_000)).toBe('1.5 MB');
    expect(i18n('de').bytes(1_500_000)).toBe('1,5 MB');
    const iso = '2024-03-05T14:07:00.000Z';
    expect(i18n('en').date(iso)).toContain('2024');
    expect(i18n('ja').date(iso)).toContain('2024年');
    expect(i18n('zh-CN').date(iso)).toContain('2024年');
    expect(i18n('de').date(iso)).toContain('März 2024');
    expect(i18n('en').t('pager.position', { page: 1000, pages: 2000 })).toBe('Page 1,000 of 2,000');
  });

  it('a return path is local only', () => {
    expect(localPath('/projects?q=a')).toBe('/projects?q=a');
    for (const bad of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', ''])
      expect(localPath(bad)).toBe('/projects');
  });
});

let running: AppInstance;
let app: AppInstance['app'];
let adminCookie: string;
let adminCsrf: string;
const DIGEST = `sha256:${'a'.repeat(64)}`;

beforeAll(async () => {
  running = await startAppInstance('wharf-ui-unit-');
  app = running.app;
  const { deps } = running.instance;
  const admin = findUser(deps.db, 'admin')!;
  ({ cookie: adminCookie, csrf: adminCsrf } = running.session('admin'));
  const actor = { username: 'admin' };
  await createUser(deps.db, { username: 'alice', password: 'alice-password-1' }, actor);
  createProject(deps.db, userPrincipal(admin, 'password'), { name: 'team', public: false }, actor);
  setMember(deps.db, userPrincipal(admin, 'password'), 'team', 'alice', 'guest', actor);
  const repo = ensureRepository(deps.db, 'team/app', 'library');
  upsertManifest(deps.db, repo.id, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  upsertTag(deps.db, repo.id, { name: 'v1', digest: DIGEST, pushedBy: 'admin' });
  upsertTag(deps.db, repo.id, { name: 'latest', digest: DIGEST, pushedBy: 'admin' });
  recordAudit(deps.db, { username: 'admin', action: 'push', resourceType: 'manifest', resource: 'team/app:v1', project: 'team', repository: 'team/app', tag: 'v1', digest: DIGEST });
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
    const alice = findUser(running.instance.deps.db, 'alice')!;
    const s = createSession(running.instance.deps, userPrincipal(alice, 'password'), {});
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
    const admin = userPrincipal(findUser(running.instance.deps.db, 'admin')!, 'password');
    for (let i = 0; i < 30; i++) createProject(running.instance.deps.db, admin, { name: `bulk${String(i).padStart(2, '0')}` }, { username: 'admin' });
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
    await createUser(running.instance.deps.db, { username: 'bob', password: 'bob-password-1' }, { username: 'admin' });
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
    expect(findUser(running.instance.deps.db, 'bob')!.admin).toBe(true);
    expect((await post('/users/bob', { disabled: 'true' })).status).toBe(303);
    expect(findUser(running.instance.deps.db, 'bob')!.disabled).toBe(true);
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

describe('registry host for pull commands', () => {
  const base = resolveConfig({});
  it('a registry with a real host name is named as configured', () => {
    const config = { ...base, registry: { ...base.registry, url: 'https://registry.example.org' } };
    expect(registryHost(config, 'wharf.example.org:8080')).toBe('registry.example.org');
  });
  it('a local registry is reached under the page host on the registry port', () => {
    const config = { ...base, registry: { ...base.registry, url: 'http://127.0.0.1:5000', listen: '0.0.0.0:5000' } };
    expect(registryHost(config, 'wharf.example.org:8080')).toBe('wharf.example.org:5000');
    expect(registryHost(config, '<bad host>')).toBe('127.0.0.1:5000');
  });
});
