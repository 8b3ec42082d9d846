import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/context';
import { createProject } from '../../src/access/projects';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { userPrincipal } from '../../src/identity/authenticate';
import { findUser } from '../../src/identity/users';
import { createPolicy } from '../../src/replication/policies';
import { createRegistry } from '../../src/replication/registries';
import { getExecution } from '../../src/jobs/executions';
import { waitFor } from '../support/wait';
import { startAppInstance, type AppInstance } from '../support/instance';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';

/**
 * The replication and system robot pages in a real Chromium at a phone's width (390 px) and a
 * desktop's (1280 px): nothing wider than the window, no two controls on top of each other, no
 * script or CSP error. Screenshots go to test-output/screenshots/replication-*.
 */

const SCREENSHOTS = path.resolve('test-output/screenshots');
const WIDTHS = [390, 1280] as const;
const DIGEST = `sha256:${'d'.repeat(64)}`;

let running: AppInstance;
let plain: PlainRegistry;
let server: ServerType;
let baseUrl: string;
let browser: Browser;
const problems: string[] = [];

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  [running, plain, browser] = await Promise.all([
    startAppInstance('wharf-ui-replication-layout-', undefined, { replication: { maxAttempts: 1 } }),
    startPlainRegistry(),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
  ]);
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: running.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  // Runs fail at once: this instance's own registry (the push source) is not running.
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const deps = running.instance.deps;
  const admin = contextFor(deps, userPrincipal((await findUser(deps.db, 'admin'))!, 'password'), { username: 'admin' });
  await createProject(admin, { name: 'team', public: false });
  for (let i = 0; i < 4; i++) {
    const repo = await ensureRepository(deps.db, `team/service-with-a-rather-long-name-${i}/api`, 'library');
    await upsertManifest(deps.db, repo.id, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    for (const tag of ['v1.0.0', 'v1.1.0-rc.1', 'latest']) await upsertTag(deps.db, repo.id, { name: tag, digest: DIGEST, pushedAt: new Date().toISOString(), pushedBy: 'admin' });
  }
  await createRegistry(admin, {
    name: 'backup-site-in-another-datacenter',
    url: `${plain.url}/a/rather/long/path/prefix/for/the/registry`,
    kind: 'distribution',
    username: 'replication-service-account',
    password: 'x-password-1',
    insecure: true,
  });
  await createRegistry(admin, { name: 'plain', url: plain.url, kind: 'distribution' });
  await createPolicy(admin, {
    name: 'team-to-backup-nightly',
    direction: 'push',
    registry: 'backup-site-in-another-datacenter',
    project: 'team',
    filters: { repositories: ['service-*/**'], excludeTags: ['*-rc.*'] },
    trigger: { type: 'cron', cron: '0 3 * * *' },
    enabled: false,
    replicateExisting: false,
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await running?.stop();
  await plain?.stop();
});

async function adminPage(width: number): Promise<Page> {
  const { cookie } = await running.session('admin');
  const [name, value] = cookie.split('=') as [string, string];
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width, height: 900 }, locale: 'en-US' });
  await context.addCookies([{ name, value, url: baseUrl }, { name: 'wharf_lang', value: 'en', url: baseUrl }]);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return page;
}

/**
 * What the page's layout breaks: the document wider than the window, an element reaching past
 * the right edge (outside a table that scrolls by itself), two controls or headings overlapping.
 */
async function layoutProblems(page: Page): Promise<string[]> {
  return (await page.evaluate(LAYOUT_PROBE)) as string[];
}

/** Runs in the page (plain JavaScript: this project's TypeScript has no DOM types). */
const LAYOUT_PROBE = `(() => {
  const found = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width + 1) found.push('document is ' + document.documentElement.scrollWidth + 'px wide in a ' + width + 'px window');
  const describe = (el) => el.tagName.toLowerCase() + (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '') + (el.className ? '.' + String(el.className).split(' ').join('.') : '') + ' "' + (el.textContent || '').trim().slice(0, 30) + '"';
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true;
    return false;
  };
  const items = [...document.querySelectorAll('header a, header button, header select, main h1, main h2, main label, main input, main select, main textarea, main button, main a, main code, main .badge, main time, main dd, main dt')]
    .filter((el) => el.offsetParent !== null && !el.closest('.visually-hidden'));
  for (const el of items) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && !scrolls(el)) found.push(describe(el) + ' reaches ' + Math.round(r.right) + 'px of ' + width + 'px');
  }
  // Per line box: an inline element that wraps has one rectangle per line, not one around them all.
  const boxes = items.filter((el) => !scrolls(el)).map((el) => ({ el, rects: [...el.getClientRects()] }));
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      for (const ra of a.rects)
        for (const rb of b.rects) {
          const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
          const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
          if (x > 2 && y > 2) found.push(describe(a.el) + ' overlaps ' + describe(b.el) + ' by ' + Math.round(x) + 'x' + Math.round(y) + 'px');
        }
    }
  // A checkbox sits beside its text, not stretched across its column.
  for (const box of document.querySelectorAll('main label.check input[type=checkbox]'))
    if (box.getBoundingClientRect().width > 40) found.push(describe(box.parentElement) + ' has a checkbox ' + Math.round(box.getBoundingClientRect().width) + 'px wide');
  return found;
})()`;

/** The pages to look at, each reached as a person would: by a link or a button where it needs one. */
const WALK: [string, (page: Page) => Promise<unknown>][] = [
  ['registries', (p) => p.goto('/replication/registries')],
  ['registry-ping', async (p) => {
    await p.goto('/replication/registries/plain');
    await p.getByRole('button', { name: 'Test connection' }).first().click();
    await p.waitForSelector('[data-ping]');
  }],
  ['registry-refused', async (p) => {
    await p.goto('/replication/registries');
    await p.locator('input[name=name]').fill('Not A Valid Name');
    await p.locator('input[name=url]').fill('http://127.0.0.1:1');
    await p.getByRole('button', { name: 'Add registry' }).click();
    await p.waitForSelector('.alert-error');
  }],
  ['registry-edit', (p) => p.goto('/replication/registries/backup-site-in-another-datacenter')],
  ['registry-delete', (p) => p.goto('/replication/registries/plain/delete')],
  ['policies', (p) => p.goto('/replication/policies')],
  ['policy-new', (p) => p.goto('/replication/new-policy')],
  ['policy-preview', async (p) => {
    await p.goto('/replication/policies/team-to-backup-nightly');
    await p.getByRole('button', { name: 'Preview tasks' }).click();
    await p.waitForSelector('[data-preview-total]');
  }],
  ['policy-refused', async (p) => {
    await p.goto('/replication/policies/team-to-backup-nightly');
    await p.locator('textarea[name=tags]').fill('[');
    await p.getByRole('button', { name: 'Save' }).click();
    await p.waitForSelector('.alert-error');
  }],
  ['policy-runs', (p) => p.goto('/replication/policies/team-to-backup-nightly')],
  ['execution-dry-run', async (p) => {
    await p.goto('/replication/policies/team-to-backup-nightly');
    await p.getByRole('button', { name: 'Dry run' }).click();
    await p.waitForSelector('[data-progress]');
  }],
  ['execution-failed', async (p) => {
    await p.goto('/replication/policies/team-to-backup-nightly');
    await p.getByRole('button', { name: 'Run now' }).click();
    const id = Number(/executions\/(\d+)/.exec(p.url())![1]);
    await waitFor(async () => (await getExecution(running.instance.deps.db, id))?.finishedAt != null, 20_000, 'the run to fail');
    await p.goto(`/replication/executions/${id}?status=failed`);
  }],
  ['executions', (p) => p.goto('/replication/executions')],
  ['robots-created', async (p) => {
    await p.goto('/robots');
    await p.locator('input[name=name]').fill(`replicator-${p.viewportSize()!.width}`);
    await p.getByLabel('All projects').check();
    await p.getByRole('button', { name: 'Create robot' }).click();
    await p.waitForSelector('.secret-once');
  }],
];

describe('replication pages at phone and desktop widths', () => {
  for (const width of WIDTHS)
    it(`${width}px: nothing overflows or overlaps`, async () => {
      const page = await adminPage(width);
      const seen: Record<string, string[]> = {};
      for (const [name, reach] of WALK) {
        await reach(page);
        await page.screenshot({ path: path.join(SCREENSHOTS, `replication-${name}-${width}.png`), fullPage: true });
        const found = await layoutProblems(page);
        if (found.length) seen[name] = found;
      }
      expect(seen).toEqual({});
      await page.context().close();
    }, 120_000);

  it('no page broke the Content-Security-Policy or threw a script error', () => {
    expect(problems).toEqual([]);
  });
});
