import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/record';
import { CSV_COLUMNS } from '../../src/audit/export-format';
import { firstRow } from '../../src/db/engine';
import { basic, inProcessApi, type ApiClient } from '../support/api-client';
import { parseCsv } from '../support/csv';
import { startAppInstance, type AppInstance } from '../support/instance';
import { refused } from '../support/refusals';
import { arrangeProject, CAST, createCast, uniqueName, type RoleProject } from '../support/role-matrix';
import { audit } from '../support/tables';
import { admin } from '../support/wharf';

/**
 * GET /api/v1/audit/export in-process: both formats, the list's filters and visibility (an export
 * holds exactly the rows the caller could list), bad input refused before anything is streamed,
 * CSV cells a spreadsheet would run as formulas escaped, and the export's own audit row.
 */

let running: AppInstance;
let api: ApiClient;
let p: RoleProject;
let other: string;

const LOOPBACK_BINDINGS = { incoming: { socket: { remoteAddress: '127.0.0.1' } } };

async function exportOf(query: string, auth: string | undefined = admin) {
  const res = await running.app.request(`/api/v1/audit/export?${query}`, { headers: auth ? { authorization: basic(auth) } : {} }, LOOPBACK_BINDINGS as never);
  return { status: res.status, headers: res.headers, text: await res.text() };
}
const jsonl = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { id: number; action: string });

/** What the list shows the same caller for the same filters, rows up to `lastId` (the export's own row). */
async function listed(query: string, auth: string, lastId: number) {
  const items: { id: number }[] = [];
  for (let page = 1; ; page++) {
    const r = await api.call('GET', `/api/v1/audit?${query}&pageSize=500&page=${page}`, { auth });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    items.push(...(r.body.items as { id: number }[]));
    if (r.body.items.length < 500) break;
  }
  return items.filter((i) => i.id <= lastId);
}

const exportRows = async () => (await firstRow(api.deps.db.select({ n: count() }).from(audit).where(eq(audit.action, 'audit_export'))))!.n;

const HOSTILE = {
  username: "=cmd|' /C calc'!A0",
  repository: '+1',
  resource: '-1',
  userAgent: '@SUM(1+1)*cmd|\' /C calc\'!A0',
  tag: '\tTAB',
  digest: 'a, "quoted" value\r\nand a second line',
};

beforeAll(async () => {
  running = await startAppInstance('wharf-audit-export-');
  api = inProcessApi(running);
  await createCast(api);
  p = await arrangeProject(api, uniqueName('exp'));
  // A project none of the cast is a member of.
  other = uniqueName('other');
  expect((await api.call('POST', '/api/v1/projects', { auth: admin, body: { name: other, public: false } })).status).toBe(201);
  const db = api.deps.db;
  for (let i = 0; i < 30; i++) {
    await recordAudit(db, { username: 'seed', action: i % 3 === 0 ? 'pull' : 'push', project: i % 2 === 0 ? p.name : other, repository: `${i % 2 === 0 ? p.name : other}/app`, time: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() });
  }
  await recordAudit(db, { ...HOSTILE, action: 'push', project: p.name, time: '2020-02-01T00:00:00.000Z' });
});
afterAll(async () => {
  await running?.stop();
});

describe('the audit export', () => {
  it('JSONL: every row the list shows, newest first, its own audit_export row first, as an attachment never cached', async () => {
    const before = await exportRows();
    const r = await exportOf('format=jsonl');
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="wharf-audit-\d{8}T\d{6}Z\.jsonl"$/);
    const rows = jsonl(r.text);
    expect(r.text.endsWith('\n')).toBe(true);
    expect(await exportRows()).toBe(before + 1);
    const own = rows[0]!;
    expect(own).toMatchObject({ action: 'audit_export', username: 'admin', sourceIp: '127.0.0.1' });
    expect(Object.keys(own)).toEqual([...CSV_COLUMNS]);
    const stored = await firstRow(api.deps.db.select().from(audit).where(eq(audit.id, own.id)));
    expect(JSON.parse(stored!.detail!)).toEqual({ format: 'jsonl', filters: {} });
    expect(rows).toEqual(await listed('', admin, own.id));
    expect(rows.length).toBeGreaterThan(31);
  });

  it('the list’s filters apply, and its own row names them', async () => {
    const query = `project=${p.name}&action=push&since=2020-01-01T00:05:00Z&until=2020-01-01T00:20:00%2B00:00`;
    const r = await exportOf(`format=jsonl&${query}`);
    expect(r.status, r.text).toBe(200);
    const rows = jsonl(r.text);
    // push rows of p between minutes 5 and 20: even minutes not divisible by 3.
    expect(rows.map((x) => x.time)).toEqual([20, 16, 14, 10, 8].map((m) => new Date(Date.UTC(2020, 0, 1, 0, m)).toISOString()));
    expect(rows.every((x) => x.project === p.name && x.action === 'push')).toBe(true);
    const own = (await api.deps.db.select().from(audit).where(eq(audit.action, 'audit_export'))).at(-1)!;
    expect(JSON.parse(own.detail!)).toEqual({
      format: 'jsonl',
      filters: { project: p.name, action: 'push', since: '2020-01-01T00:05:00Z', until: '2020-01-01T00:20:00+00:00' },
    });
    expect(rows).toEqual(await listed(query, admin, own.id));
    const byUser = jsonl((await exportOf('format=jsonl&username=seed&repository=' + encodeURIComponent(`${other}/app`))).text);
    expect(byUser).toHaveLength(15);
    expect(byUser.every((x) => x.username === 'seed' && x.repository === `${other}/app`)).toBe(true);
  });

  it('CSV: a header row, RFC 4180 quoting, formula-like cells escaped with a leading quote', async () => {
    const r = await exportOf(`format=csv&project=${p.name}&since=2020-02-01T00:00:00Z&until=2020-12-31`);
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="wharf-audit-\d{8}T\d{6}Z\.csv"$/);
    const [head, ...rows] = parseCsv(r.text);
    expect(head).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(1);
    const cell = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, rows[0]![i]]));
    expect(cell).toMatchObject({
      username: "'=cmd|' /C calc'!A0",
      repository: "'+1",
      resource: "'-1",
      userAgent: "'@SUM(1+1)*cmd|' /C calc'!A0",
      tag: "'\tTAB",
      digest: 'a, "quoted" value\r\nand a second line',
      action: 'push',
      project: p.name,
      count: '1',
      sourceIp: '',
    });
    // The JSONL file carries the values as they are.
    const [raw] = jsonl((await exportOf(`format=jsonl&project=${p.name}&since=2020-02-01T00:00:00Z&until=2020-12-31`)).text);
    expect(raw).toMatchObject(HOSTILE);
  });

  it('a member exports what they may list: their projects’ rows and their own, never another project’s', async () => {
    for (const project of [p.name, other]) for (let i = 0; i < 3; i++) await recordAudit(api.deps.db, { username: 'later', action: 'push', project, repository: `${project}/app` });
    for (const who of [CAST.developer, CAST.outsider]) {
      const r = await exportOf('format=jsonl', who);
      expect(r.status, r.text).toBe(200);
      const rows = jsonl(r.text);
      const name = who.split(':')[0]!;
      expect(rows[0]).toMatchObject({ action: 'audit_export', username: name });
      expect(rows).toEqual(await listed('', who, rows[0]!.id));
      expect(rows.some((x) => x.project === other)).toBe(false);
      expect(rows.some((x) => x.username === 'seed')).toBe(false);
      // Rows of the project from its creation on; the seeded ones predate it.
      if (who === CAST.developer) expect(rows.filter((x) => x.project === p.name && x.username === 'later')).toHaveLength(3);
      else expect(rows.every((x) => x.username === name)).toBe(true);
    }
    // A filter cannot widen the scope: another project's rows stay out.
    const csv = parseCsv((await exportOf(`format=csv&project=${other}`, CAST.developer)).text);
    expect(csv).toHaveLength(1);
  });

  it('anonymous callers 401, robots 403, nothing exported and no audit row', async () => {
    const before = await exportRows();
    await refused(api, 401, () => api.call('GET', '/api/v1/audit/export?format=jsonl'));
    await refused(api, 403, () => api.call('GET', '/api/v1/audit/export?format=csv', { auth: p.auth.robot }));
    expect(await exportRows()).toBe(before);
  });

  it('a bad format or filter is a 400 with a JSON error before anything is streamed, and no audit row', async () => {
    const before = await exportRows();
    for (const query of [
      '',
      'format=xml',
      'format=JSONL',
      'format=csv&since=yesterday',
      'format=jsonl&until=2020-13-01',
      `format=jsonl&action=${'x'.repeat(65)}`,
      `format=csv&username=${'u'.repeat(257)}`,
      `format=csv&project=${'p'.repeat(301)}`,
    ]) {
      const r = await refused(api, 400, () => api.call('GET', `/api/v1/audit/export?${query}`, { auth: admin }));
      expect(r.headers instanceof Headers ? r.headers.get('content-type') : '', query).toMatch(/^application\/json/);
    }
    expect(await exportRows()).toBe(before);
    const stillThere = await firstRow(api.deps.db.select({ n: count() }).from(audit).where(eq(audit.username, 'seed')));
    expect(stillThere!.n).toBe(30);
  });

  it('the audit page links both exports with its filters, times as UTC, and the session follows them', async () => {
    const { cookie } = await running.session('dev1');
    const page = await running.app.request(`/audit?project=${p.name}&action=push&since=2020-01-01T00:05`, { headers: { cookie } }, LOOPBACK_BINDINGS as never);
    expect(page.status).toBe(200);
    const html = await page.text();
    const hrefs = [...html.matchAll(/href="(\/api\/v1\/audit\/export\?[^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
    expect(hrefs).toEqual([
      `/api/v1/audit/export?format=jsonl&project=${p.name}&action=push&since=2020-01-01T00%3A05%3A00.000Z`,
      `/api/v1/audit/export?format=csv&project=${p.name}&action=push&since=2020-01-01T00%3A05%3A00.000Z`,
    ]);
    expect(html).toContain('Export JSONL');
    const viaPage = await running.app.request(hrefs[0]!, { headers: { cookie } }, LOOPBACK_BINDINGS as never);
    expect(viaPage.status).toBe(200);
    const rows = jsonl(await viaPage.text());
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((x) => x.project === p.name && x.action === 'push' && String(x.time) >= '2020-01-01T00:05:00.000Z')).toBe(true);
    expect(rows).toEqual(await listed(`project=${p.name}&action=push&since=2020-01-01T00:05:00Z`, CAST.developer, rows[0]!.id));
  });
});
