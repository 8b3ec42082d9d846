import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/record';
import { cursorPosition } from '../../src/audit/feed';
import { SYSLOG_CURSOR } from '../../src/audit/forward';
import { transaction } from '../../src/db/transaction';
import { makeTestTls, startRsyslog, type Rsyslog, type Syslog5424 } from '../support/rsyslog';
import { audit } from '../support/tables';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

const LOCAL0 = 16;
const WARNING = 4;
const NOTICE = 5;

/** The JSON message of a forwarded row. */
const bodyOf = (m: Syslog5424): Record<string, unknown> => JSON.parse(m.msg) as Record<string, unknown>;
const idOf = (m: Syslog5424): number => Number(bodyOf(m).id);
const fromApp = (app: string) => (m: Syslog5424) => m.appName === app;

async function metric(w: TestWharf, name: string): Promise<number> {
  const text = await w.wharf.deps.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith('#'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const failedLogin = (w: TestWharf, name: string) =>
  fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: `Basic ${Buffer.from(`${name}:wrong-password`).toString('base64')}` } });

describe('audit forwarding to a real rsyslog over TCP', () => {
  let rsyslog: Rsyslog;
  let w: TestWharf;
  let startedAt: number;

  beforeAll(async () => {
    rsyslog = await startRsyslog();
    w = await startTestWharf({ audit: { forward: { url: `tcp://127.0.0.1:${rsyslog.port}`, appName: 'wharf-tcp' } } }, { manage: false });
    await waitFor(async () => (await cursorPosition(w.wharf.deps.db, SYSLOG_CURSOR)) !== null, 10_000, 'the syslog cursor');
    startedAt = (await cursorPosition(w.wharf.deps.db, SYSLOG_CURSOR))!;
  });
  afterAll(async () => {
    await w?.stop();
    await rsyslog?.dispose();
  });

  it('starts at the newest row: the rows written before forwarding was on are not replayed', async () => {
    expect(startedAt).toBeGreaterThan(0); // the bootstrap's rows exist
    const first = await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'first-forwarded' } });
    expect(first.status).toBe(201);
    const [m] = await rsyslog.waitForMessages(1, fromApp('wharf-tcp'));
    expect(idOf(m!)).toBeGreaterThan(startedAt);
    expect((await rsyslog.messages()).filter(fromApp('wharf-tcp')).every((x) => idOf(x) > startedAt)).toBe(true);
  });

  it('sends rows made through the API as RFC 5424: msgid the action, the app name, JSON with the row id, severity by kind', async () => {
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'forwarded' } })).status).toBe(201);
    expect((await failedLogin(w, 'nobody-here')).status).toBe(401);
    const rows = await w.wharf.deps.db.select().from(audit).where(gt(audit.id, startedAt));
    const created = rows.find((r) => r.action === 'project_create' && r.resource === 'forwarded')!;
    const failed = rows.find((r) => r.action === 'login_failed')!;
    expect(created && failed).toBeTruthy();
    const got = await rsyslog.waitForMessages(2, (m) => fromApp('wharf-tcp')(m) && [created.id, failed.id].includes(idOf(m)));
    const byId = new Map(got.map((m) => [idOf(m), m]));
    const c = byId.get(created.id)!;
    expect(c.msgid).toBe('project_create');
    expect(c.hostname).toBe(os.hostname());
    expect(c.procId).toBe(String(process.pid));
    expect(c.facility).toBe(LOCAL0);
    expect(c.severity).toBe(NOTICE);
    expect(c.timestamp).toBe(new Date(created.time).toISOString());
    expect(bodyOf(c)).toMatchObject({ id: created.id, action: 'project_create', username: 'admin', resource: 'forwarded', outcome: 'success' });
    const f = byId.get(failed.id)!;
    expect(f.msgid).toBe('login_failed');
    expect(f.severity).toBe(WARNING);
    expect(bodyOf(f)).toMatchObject({ id: failed.id, username: 'nobody-here', outcome: 'failure' });
    // One line each: nothing in the message broke the framing.
    expect(got.every((m) => !m.raw.includes('\n'))).toBe(true);
  });

  it('truncates a row over 8 KB in its detail, never drops it', async () => {
    const detail = JSON.stringify({ note: 'x\n'.repeat(10_000), keep: 'small' });
    await transaction(w.wharf.deps.db, (tx) => recordAudit(tx, { username: 'admin', action: 'backup', detail }));
    const [m] = await rsyslog.waitForMessages(1, (x) => fromApp('wharf-tcp')(x) && x.msgid === 'backup');
    expect(Buffer.byteLength(m!.raw) + 1).toBeLessThanOrEqual(8192);
    const body = bodyOf(m!);
    expect(body.truncated).toBe(true);
    expect(typeof body.detail).toBe('string');
    expect((body.detail as string).startsWith('{"note":"x\\nx\\n')).toBe(true);
  });

  it('keeps Wharf answering while rsyslog is down, then delivers every row made meanwhile; the lag rises and returns to 0', async () => {
    await rsyslog.waitForMessages(1, (x) => x.msgid === 'backup'); // caught up
    await waitFor(async () => (await metric(w, 'wharf_audit_forward_lag_rows')) === 0, 10_000, 'no lag');
    const before = (await w.wharf.deps.db.select({ id: audit.id }).from(audit)).reduce((m, r) => Math.max(m, r.id), 0);
    const errorsBefore = await metric(w, 'wharf_audit_forward_errors_total');
    await rsyslog.stop();

    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: `while-down-${i}` } })).status).toBe(201);
      latencies.push(performance.now() - t0);
      expect((await failedLogin(w, `down-${i}`)).status).toBe(401);
    }
    await waitFor(async () => (await metric(w, 'wharf_audit_forward_lag_rows')) >= 20, 10_000, 'the lag to show the rows made meanwhile');
    await waitFor(async () => (await metric(w, 'wharf_audit_forward_errors_total')) > errorsBefore, 10_000, 'a counted error');
    expect(await metric(w, 'wharf_audit_forward_lag_seconds')).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(1000);

    await rsyslog.start();
    const made = (await w.wharf.deps.db.select({ id: audit.id }).from(audit).where(gt(audit.id, before))).map((r) => r.id);
    expect(made.length).toBe(20);
    const got = await rsyslog.waitForMessages(made.length, (m) => fromApp('wharf-tcp')(m) && idOf(m) > before, 30_000);
    const ids = got.map(idOf);
    expect(made.filter((id) => !ids.includes(id))).toEqual([]);
    const duplicates = ids.length - new Set(ids).size;
    console.log(`audit forwarding over TCP after rsyslog was down: ${made.length} rows made meanwhile, all arrived, ${duplicates} sent twice`);
    await waitFor(async () => (await metric(w, 'wharf_audit_forward_lag_rows')) === 0 && (await metric(w, 'wharf_audit_forward_lag_seconds')) === 0, 10_000, 'the lag back to 0');
    expect(await cursorPosition(w.wharf.deps.db, SYSLOG_CURSOR)).toBe(Math.max(...made));
  });

  it('loses no row when rsyslog goes away in the middle of a stream of rows (at least once over TCP)', async () => {
    const before = (await w.wharf.deps.db.select({ id: audit.id }).from(audit)).reduce((m, r) => Math.max(m, r.id), 0);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await transaction(w.wharf.deps.db, (tx) => recordAudit(tx, { username: 'admin', action: 'reconcile', resource: `stream-${i}` }));
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    await new Promise((r) => setTimeout(r, 700));
    await rsyslog.stop();
    await new Promise((r) => setTimeout(r, 1200));
    await rsyslog.start();
    await new Promise((r) => setTimeout(r, 500));
    writing = false;
    await writer;
    const made = (await w.wharf.deps.db.select({ id: audit.id }).from(audit).where(gt(audit.id, before))).map((r) => r.id);
    expect(made.length).toBeGreaterThan(50);
    await waitFor(async () => (await cursorPosition(w.wharf.deps.db, SYSLOG_CURSOR)) === Math.max(...made), 30_000, 'the cursor past the stream');
    const ids = (await rsyslog.messages()).filter((m) => fromApp('wharf-tcp')(m) && idOf(m) > before).map(idOf);
    expect(made.filter((id) => !ids.includes(id))).toEqual([]);
    console.log(`audit forwarding over TCP, rsyslog stopped mid-stream: ${made.length} rows, all arrived, ${ids.length - new Set(ids).size} sent twice`);
  });
});

describe('audit forwarding over UDP and TLS', () => {
  let work: string;
  let plain: Rsyslog;
  let secure: Rsyslog;
  const wharfs: TestWharf[] = [];
  let tlsFiles: Awaited<ReturnType<typeof makeTestTls>>;
  let otherCa: Awaited<ReturnType<typeof makeTestTls>>;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-forward-'));
    [tlsFiles, otherCa] = await Promise.all([makeTestTls(work, 'collector'), makeTestTls(work, 'stranger')]);
    [plain, secure] = await Promise.all([startRsyslog(), startRsyslog({ tls: tlsFiles })]);
  });
  afterAll(async () => {
    for (const w of wharfs) await w.stop();
    await plain?.dispose();
    await secure?.dispose();
    await rm(work, { recursive: true, force: true });
  });

  const start = async (forward: Record<string, string>) => {
    const w = await startTestWharf({ audit: { forward } }, { manage: false });
    wharfs.push(w);
    await waitFor(async () => (await cursorPosition(w.wharf.deps.db, SYSLOG_CURSOR)) !== null, 10_000, 'the syslog cursor');
    return w;
  };

  it('over UDP', async () => {
    const w = await start({ url: `udp://127.0.0.1:${plain.port}`, appName: 'wharf-udp', facility: 'auth' });
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'over-udp' } })).status).toBe(201);
    const row = (await w.wharf.deps.db.select().from(audit)).find((r) => r.action === 'project_create' && r.resource === 'over-udp')!;
    const [m] = await plain.waitForMessages(1, (x) => fromApp('wharf-udp')(x) && idOf(x) === row.id);
    expect(m!.msgid).toBe('project_create');
    expect(m!.facility).toBe(4);
    expect(bodyOf(m!)).toMatchObject({ id: row.id, resource: 'over-udp' });
  });

  it('over TLS with the collector CA as caFile', async () => {
    const w = await start({ url: `tls://127.0.0.1:${secure.port}`, appName: 'wharf-tls', caFile: tlsFiles.caFile });
    expect((await failedLogin(w, 'tls-visitor')).status).toBe(401);
    const row = (await w.wharf.deps.db.select().from(audit)).find((r) => r.action === 'login_failed')!;
    const [m] = await secure.waitForMessages(1, (x) => fromApp('wharf-tls')(x) && idOf(x) === row.id);
    expect(m!.msgid).toBe('login_failed');
    expect(bodyOf(m!)).toMatchObject({ id: row.id, username: 'tls-visitor' });
  });

  it('over TLS with a CA that did not sign the collector: nothing arrives, errors are counted, Wharf keeps working', async () => {
    const w = await start({ url: `tls://127.0.0.1:${secure.port}`, appName: 'wharf-wrong-ca', caFile: otherCa.caFile });
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: `wrong-ca-${i}` } })).status).toBe(201);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    await waitFor(async () => (await metric(w, 'wharf_audit_forward_errors_total')) >= 2, 10_000, 'two counted errors');
    expect(await metric(w, 'wharf_audit_forward_sent_total')).toBe(0);
    expect(await metric(w, 'wharf_audit_forward_lag_rows')).toBeGreaterThanOrEqual(3);
    expect((await secure.messages()).filter(fromApp('wharf-wrong-ca'))).toEqual([]);
  });

  it('refuses to start when caFile does not exist, naming it', async () => {
    const missing = path.join(work, 'no-such-ca.pem');
    await expect(startTestWharf({ audit: { forward: { url: `tls://127.0.0.1:${secure.port}`, caFile: missing } } }, { manage: false })).rejects.toThrow(
      `audit.forward.caFile: cannot read ${missing}: ENOENT`,
    );
  });
});
