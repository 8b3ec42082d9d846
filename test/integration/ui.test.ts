import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * The web interface in a real Chromium against a real Wharf and registry: sign in, users,
 * projects, members, tags pushed with skopeo, deleting one tag, audit, tokens, languages, and the
 * security promises (CSRF, escaping, hidden and refused actions).
 */

const SCREENSHOTS = path.resolve('test-output/screenshots');
const DANA = 'dana-password-1';
const GUS = 'gus-password-1';

let w: TestWharf;
let work: string;
let image: BuiltImage;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const dialogs: string[] = [];
/** Console errors and uncaught page errors (a CSP violation shows up here). */
const problems: string[] = [];

const shot = async (name: string, p: Page = page) => {
  await p.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-ui-'));
  await mkdir(SCREENSHOTS, { recursive: true });
  [w, image, browser] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'img'), { tag: 'v1' }),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
  ]);
  context = await browser.newContext({ baseURL: w.url, viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  console.log(`UI screenshots in ${SCREENSHOTS}`);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function signIn(username: string, password: string) {
  await page.goto('/login');
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/projects/);
  await expect(page.locator('.whoami').textContent()).resolves.toBe(username);
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login$/);
}

const tagNames = async () => (await page.locator('table.tags .tag-name').allTextContents()).sort();

describe('the web interface, end to end', () => {
  it('an anonymous visitor lands on public projects and can sign in as admin', async () => {
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/projects');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(/\/login/);
    await shot('01-login');
    // A wrong password is shown as an error on the same page.
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('.alert-error').textContent()).resolves.toContain('Wrong user name or password');
    await signIn('admin', ADMIN_PASSWORD);
    for (const label of ['Projects', 'Audit', 'Users', 'My account', 'System'])
      expect(await page.locator('.main-nav').getByRole('link', { name: label }).count()).toBe(1);
  });

  it('a robot account is refused at the sign-in page with a visible error', async () => {
    const ctx = await browser.newContext({ baseURL: w.url });
    const p = await ctx.newPage();
    await p.goto('/login');
    await p.getByLabel('User name').fill('robot$library+ci');
    await p.getByLabel('Password').fill('whatever-secret');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await expect(p.locator('.alert-error').textContent()).resolves.toContain('Robot accounts cannot sign in');
    await ctx.close();
  });

  it('the admin creates two users on the Users page', async () => {
    await page.locator('.main-nav').getByRole('link', { name: 'Users' }).click();
    await page.waitForURL(/\/users$/);
    for (const [name, password] of [
      ['dana', DANA],
      ['gus', GUS],
    ] as const) {
      const form = page.locator('form[action="/users"]');
      await form.getByLabel('User name').fill(name);
      await form.getByLabel('Password').fill(password);
      await form.getByRole('button', { name: 'Create user' }).click();
      await page.waitForURL(/done=userCreated/);
      expect(await page.locator(`tr[data-user="${name}"]`).count()).toBe(1);
    }
    // A refused creation shows the reason and keeps the page.
    const form = page.locator('form[action="/users"]');
    await form.getByLabel('User name').fill('dana');
    await form.getByLabel('Password').fill('another-password-1');
    await form.getByRole('button', { name: 'Create user' }).click();
    await expect(page.locator('.alert-error').textContent()).resolves.toContain('already exists');
    await shot('02-users');
    await signOut();
  });

  it('dana creates a project and adds gus as a guest', async () => {
    await signIn('dana', DANA);
    const form = page.locator('form[action="/projects"]');
    await form.getByLabel('Name').fill('webapp');
    await form.getByRole('button', { name: 'Create project' }).click();
    await page.waitForURL(/\/projects\/webapp\?done=projectCreated/);
    await expect(page.locator('.alert-ok').textContent()).resolves.toContain('Project created');
    const add = page.locator('form[action="/projects/webapp/members"]').last();
    await add.getByLabel('User name').fill('gus');
    await add.getByLabel('Role').selectOption('guest');
    await add.getByRole('button', { name: 'Add member' }).click();
    await page.waitForURL(/done=memberSaved/);
    const members = await page.locator('section').filter({ hasText: 'Members' }).locator('tbody tr').allTextContents();
    expect(members.some((m) => m.includes('gus'))).toBe(true);
    expect(members.some((m) => m.includes('dana'))).toBe(true);
    await shot('03-project');
  });

  it('two tags of one image pushed with skopeo show up with the exact pull command', async () => {
    for (const tag of ['1.0', 'latest']) {
      const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/webapp/api:${tag}`, { destCreds: `dana:${DANA}` });
      expect(r.code, r.stderr).toBe(0);
    }
    await waitFor(
      async () => {
        await page.goto('/repositories/webapp/api');
        return (await tagNames()).join(',') === '1.0,latest';
      },
      20_000,
      'both tags on the repository page',
    );
    // Size and platform arrive after the manifest is read; wait for them too.
    await waitFor(async () => {
      await page.goto('/repositories/webapp/api');
      return (await page.locator('tbody[data-tag="1.0"]').textContent())!.includes('linux/amd64');
    });
    const row = page.locator('tbody[data-tag="1.0"]');
    await expect(row.locator('.pull-cmd code').textContent()).resolves.toBe(`docker pull ${w.registry}/webapp/api:1.0`);
    await expect(row.locator('.digest').getAttribute('title')).resolves.toBe(image.manifestDigest);
    await expect(row.textContent()).resolves.toContain('dana');
    await shot('04-repository');
    await page.goto('/projects/webapp');
    const repoRow = page.locator('tr').filter({ hasText: 'webapp/api' });
    await expect(repoRow.locator('td').nth(1).textContent()).resolves.toBe('2');
  });

  it('deleting one tag asks first, names the tag that stays, and leaves it in place', async () => {
    await page.goto('/repositories/webapp/api');
    await page.locator('tbody[data-tag="1.0"]').getByRole('link', { name: 'Delete tag' }).click();
    await page.waitForURL(/\/delete\/tag\?/);
    await expect(page.locator('.tag-list').textContent()).resolves.toBe('latest');
    await shot('05-confirm-delete-tag');
    await page.getByRole('button', { name: 'Delete the tag' }).click();
    await page.waitForURL(/done=tagDeleted/);
    expect(await tagNames()).toEqual(['latest']);
    const left = await skopeoInspect(`docker://${w.registry}/webapp/api:latest`, `dana:${DANA}`);
    expect(left.code, left.stderr).toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/webapp/api:1.0`, `dana:${DANA}`)).code).not.toBe(0);
    // The image confirmation lists every tag that would go with it.
    await page.locator('tbody[data-tag="latest"]').getByRole('link', { name: 'Delete image' }).click();
    await page.waitForURL(/\/delete\/image\?/);
    await expect(page.locator('.tag-list').textContent()).resolves.toBe('latest');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(/\/repositories\/webapp\/api$/);
  });

  it('the audit page lists the push and the tag deletion, and filters', async () => {
    await page.locator('.main-nav').getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(/\/audit/);
    await page.getByLabel('Action').selectOption('tag_delete');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=tag_delete/);
    const rows = await page.locator('table.audit tbody tr').allTextContents();
    expect(rows.length).toBe(1);
    expect(rows[0]).toContain('dana');
    expect(rows[0]).toContain('webapp/api:1.0');
    await page.goto('/audit?project=webapp');
    const all = await page.locator('table.audit tbody tr').allTextContents();
    expect(all.some((r) => r.includes('Push'))).toBe(true);
    expect(all.some((r) => r.includes('Member set'))).toBe(true);
    await shot('06-audit');
  });

  it('my account: a personal token is shown once, works for the registry, and can be revoked', async () => {
    await page.locator('.main-nav').getByRole('link', { name: 'My account' }).click();
    const form = page.locator('form[action="/account/tokens"]');
    await form.getByLabel('Token name').fill('ci');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.locator('code.secret').textContent())!;
    expect(secret).toMatch(/^wpat_/);
    await shot('07-account-token');
    const inspect = await skopeoInspect(`docker://${w.registry}/webapp/api:latest`, `dana:${secret}`);
    expect(inspect.code, inspect.stderr).toBe(0);
    await page.goto('/account');
    expect(await page.locator('code.secret').count()).toBe(0);
    await page.locator('tr[data-token="ci"]').getByRole('button', { name: 'Revoke' }).click();
    await page.waitForURL(/done=tokenRevoked/);
    expect(await page.locator('tr[data-token="ci"]').count()).toBe(0);
  });

  it('a form post without the CSRF token is refused and changes nothing', async () => {
    const res = await page.request.post('/projects', { form: { name: 'nocsrf' }, maxRedirects: 0 });
    expect(res.status()).toBe(403);
    expect(await res.text()).toContain('This form has expired');
    const wrong = await page.request.post('/projects', { form: { name: 'nocsrf', _csrf: 'x'.repeat(32) }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    expect((await w.api('GET', '/api/v1/projects/nocsrf', { auth: admin })).status).toBe(404);
  });

  it('script-shaped input is shown as text and never runs', async () => {
    const evil = '<script>alert(1)</script>';
    await page.goto(`/projects?q=${encodeURIComponent(evil)}`);
    await expect(page.locator('#project-q').inputValue()).resolves.toBe(evil);
    expect(await page.getByText(evil, { exact: false }).count()).toBeGreaterThan(0);
    await page.goto(`/repositories/webapp/api?q=${encodeURIComponent('"><img src=x onerror=alert(2)>')}`);
    expect(await page.locator('img').count()).toBe(0);
    // A tag search that matches nothing still echoes the query as text.
    await expect(page.locator('main').textContent()).resolves.toContain('"><img src=x onerror=alert(2)>');
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
  });

  it('a user name shaped like markup is shown as text on every page that names it', async () => {
    await signOut();
    await signIn('admin', ADMIN_PASSWORD);
    const evil = '<img src=x onerror=alert(3)> o\'brien & "co"';
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: evil, password: 'markup-password-1' } })).status).toBe(201);
    expect((await w.api('PUT', `/api/v1/projects/webapp/members/${encodeURIComponent(evil)}`, { auth: admin, body: { role: 'guest' } })).status).toBe(200);
    for (const url of ['/users', '/projects/webapp', '/audit']) {
      await page.goto(url);
      await expect(page.locator('main').textContent()).resolves.toContain(evil);
      expect(await page.locator('main img').count(), url).toBe(0);
    }
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
    expect((await w.api('DELETE', `/api/v1/projects/webapp/members/${encodeURIComponent(evil)}`, { auth: admin })).status).toBe(204);
    await signOut();
    await signIn('dana', DANA);
  });

  it('switching to 简体中文 translates the navigation and the choice is remembered', async () => {
    await page.goto('/projects');
    await Promise.all([page.waitForURL(/\/projects$/), page.locator('#lang-select').selectOption('zh-CN')]);
    await page.waitForSelector('html[lang="zh-CN"]');
    const nav = await page.locator('.main-nav').textContent();
    expect(nav).toContain('项目');
    expect(nav).toContain('审计');
    expect(nav).toContain('我的账户');
    await page.goto('/repositories/webapp/api');
    await expect(page.locator('main').textContent()).resolves.toContain('拉取');
    await shot('08-repository-zh-CN');
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'wharf_lang')?.value).toBe('zh-CN');
    await Promise.all([page.waitForURL(/\/repositories\/webapp\/api$/), page.locator('#lang-select').selectOption('en')]);
    await page.waitForSelector('html[lang="en"]');
  });

  it('a guest sees no delete buttons or member controls, and a forged delete is refused', async () => {
    await signOut();
    await signIn('gus', GUS);
    await page.goto('/repositories/webapp/api');
    expect(await tagNames()).toEqual(['latest']);
    expect(await page.getByRole('link', { name: 'Delete tag' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Delete image' }).count()).toBe(0);
    await shot('09-repository-guest');
    await page.goto('/projects/webapp');
    expect(await page.getByRole('button', { name: 'Remove' }).count()).toBe(0);
    expect(await page.locator('.main-nav').getByRole('link', { name: 'Users' }).count()).toBe(0);
    // The guest's own valid CSRF token does not make a delete allowed.
    const csrf = (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;
    const forged = await page.request.post('/delete/tag', { form: { _csrf: csrf, repository: 'webapp/api', tag: 'latest' }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    const member = await page.request.post('/projects/webapp/members', { form: { _csrf: csrf, username: 'gus', role: 'projectAdmin' }, maxRedirects: 0 });
    expect(member.status()).toBe(403);
    expect((await w.api('GET', '/api/v1/projects/webapp/members', { auth: admin })).body.find((m: { username: string }) => m.username === 'gus').role).toBe(
      'guest',
    );
    expect((await page.request.get('/users', { maxRedirects: 0 })).status()).toBe(403);
    const still = await skopeoInspect(`docker://${w.registry}/webapp/api:latest`, admin);
    expect(still.code).toBe(0);
  });

  it('sign out ends the session: pages that need one send back to sign in', async () => {
    await signOut();
    await page.goto('/account');
    await page.waitForURL(/\/login\?next=%2Faccount/);
  });

  it('the admin sees system health and can start a reconcile', async () => {
    await signIn('admin', ADMIN_PASSWORD);
    await page.locator('.main-nav').getByRole('link', { name: 'System' }).click();
    await expect(page.locator('[data-health="database"]').textContent()).resolves.toBe('OK');
    await expect(page.locator('[data-health="registry"]').textContent()).resolves.toBe('OK');
    await page.getByRole('button', { name: 'Reconcile now' }).click();
    await page.waitForURL(/done=reconcileStarted/);
    await shot('10-system');
    await page.goto('/projects');
    await shot('11-projects');
  });

  it('no page broke the Content-Security-Policy or threw a script error', () => {
    expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('works without JavaScript: sign in and the language button', async () => {
    const ctx = await browser.newContext({ baseURL: w.url, javaScriptEnabled: false, locale: 'de-DE' });
    const p = await ctx.newPage();
    await p.goto('/login', { waitUntil: 'load' });
    // Accept-Language from the browser picks German before any choice.
    await p.waitForSelector('html[lang="de"]');
    await p.getByLabel('Benutzername').fill('dana');
    await p.getByLabel('Passwort').fill(DANA);
    await p.getByRole('button', { name: 'Anmelden' }).click();
    await p.waitForURL(/\/projects/);
    await p.locator('#lang-select').selectOption('ja');
    await p.getByRole('button', { name: 'Wechseln' }).click();
    await p.waitForSelector('html[lang="ja"]');
    expect(await p.locator('.main-nav').textContent()).toContain('プロジェクト');
    await shot('12-projects-ja-nojs', p);
    await ctx.close();
  });
});
