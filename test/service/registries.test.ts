import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLog } from '../../src/log';
import { SecretBox, REPLICATION_KEY_FILE } from '../../src/replication/sealed';
import { insertPolicyRow, registryByName } from '../../src/replication/store';
import { registryEndpoint } from '../../src/replication/registries';
import { findProject } from '../../src/access/store';
import { generateSigningPair } from '../../src/token/keys';
import { inProcessApi, type ApiClient } from '../support/api-client';
import { startAppInstance, type AppInstance } from '../support/instance';
import { audit, registries } from '../support/tables';
import { expectAudit } from '../support/audit-trail';
import { admin } from '../support/wharf';

/**
 * /api/v1/registries in-process (no registry is asked): create, list, get, change, delete; every
 * malformed input refused with nothing stored; the password sealed under replication.key and
 * never in an answer, an audit row or a log line; a registry in use cannot be deleted.
 */

const PASSWORD = 'Sup3r-secret-registry-password';
const logLines: string[] = [];
let running: AppInstance;
let api: ApiClient;
const call: ApiClient['call'] = (m, p, o) => api.call(m, p, o);
const USER = 'plainuser:plain-password-1';

beforeAll(async () => {
  const log = createLog('debug', { write: (line: string) => void logLines.push(line) });
  running = await startAppInstance('wharf-registries-', 'admin-password-1', {}, { log });
  api = inProcessApi(running);
  expect((await call('POST', '/api/v1/users', { auth: admin, body: { username: 'plainuser', password: 'plain-password-1' } })).status).toBe(201);
});

afterAll(async () => {
  await running?.stop();
});

const create = (body: Record<string, unknown>, auth = admin) => call('POST', '/api/v1/registries', { auth, body });
const storedCount = async () => (await api.deps.db.select().from(registries)).length;

describe('registries', () => {
  it('create, list, get, patch and delete, each audited; the answer has hasPassword, never the password', async () => {
    const { certPem } = await generateSigningPair('test ca');
    const r = await create({ name: 'site-b', url: 'https://registry.example.org:5000/', kind: 'distribution', username: 'copier', password: PASSWORD, caPem: certPem });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toEqual({
      name: 'site-b',
      url: 'https://registry.example.org:5000',
      kind: 'distribution',
      username: 'copier',
      hasPassword: true,
      insecure: false,
      caPem: certPem,
      description: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      createdBy: 'admin',
    });
    await expectAudit(api, 'registry_create', 'site-b', 'admin');

    const list = await call('GET', '/api/v1/registries', { auth: admin });
    expect(list.status).toBe(200);
    expect(list.body.items.map((i: { name: string }) => i.name)).toContain('site-b');
    expect(list.body.total).toBe(list.body.items.length);
    const got = await call('GET', '/api/v1/registries/site-b', { auth: admin });
    expect(got.body).toEqual(r.body);

    const p = await call('PATCH', '/api/v1/registries/site-b', { auth: admin, body: { url: 'http://10.0.0.9:5000', kind: 'wharf', insecure: true, caPem: null, description: 'the other site' } });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body).toMatchObject({ url: 'http://10.0.0.9:5000', kind: 'wharf', insecure: true, caPem: null, description: 'the other site', hasPassword: true, username: 'copier' });
    await expectAudit(api, 'registry_update', 'site-b', 'admin');
    // an empty password clears it
    const cleared = await call('PATCH', '/api/v1/registries/site-b', { auth: admin, body: { password: '' } });
    expect(cleared.body.hasPassword).toBe(false);
    expect((await registryByName(api.deps.db, 'site-b'))!.passwordSealed).toBeNull();
    // the name cannot change
    const renamed = await call('PATCH', '/api/v1/registries/site-b', { auth: admin, body: { name: 'other' } });
    expect(renamed.status).toBe(400);
    expect((await call('PATCH', '/api/v1/registries/nope', { auth: admin, body: { insecure: true } })).status).toBe(404);

    expect((await call('DELETE', '/api/v1/registries/site-b', { auth: admin })).status).toBe(204);
    await expectAudit(api, 'registry_delete', 'site-b', 'admin');
    expect((await call('GET', '/api/v1/registries/site-b', { auth: admin })).status).toBe(404);
    expect((await call('DELETE', '/api/v1/registries/site-b', { auth: admin })).status).toBe(404);
    expect((await call('POST', '/api/v1/registries/site-b/ping', { auth: admin })).status).toBe(404);
  });

  it('refuses every malformed input with 400 (409 for a duplicate name) and stores nothing', async () => {
    expect((await create({ name: 'dup', url: 'http://127.0.0.1:5000', kind: 'distribution' })).status).toBe(201);
    const before = await storedCount();
    const good = { name: 'bad-input', url: 'http://127.0.0.1:5000', kind: 'distribution' };
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['upper-case name', { ...good, name: 'Bad' }, /registry name/],
      ['slash in name', { ...good, name: 'a/b' }, /registry name/],
      ['empty name', { ...good, name: '' }, /name/],
      ['ftp url', { ...good, url: 'ftp://example.org' }, /url must be/],
      ['url with a user', { ...good, url: 'https://user:pw@example.org' }, /url must be/],
      ['url with a query', { ...good, url: 'https://example.org/?x=1' }, /url must be/],
      ['url with a fragment', { ...good, url: 'https://example.org/#x' }, /url must be/],
      ['not a url', { ...good, url: 'registry.example.org' }, /url must be/],
      ['unknown kind', { ...good, kind: 'quay' }, /kind/],
      ['garbage CA', { ...good, caPem: 'not a certificate' }, /caPem/],
      ['broken certificate', { ...good, caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, /caPem/],
      ['long username', { ...good, username: 'u'.repeat(256) }, /username/],
      ['colon in username', { ...good, username: 'a:b' }, /username/],
      ['long password', { ...good, password: 'p'.repeat(4097) }, /password/],
      ['unknown field', { ...good, token: 'x' }, /unknown field/],
      ['insecure not a boolean', { ...good, insecure: 'yes' }, /insecure/],
    ];
    for (const [what, body, message] of bad) {
      const r = await create(body);
      expect(r.status, what).toBe(400);
      expect(r.body.error.message, what).toMatch(message);
    }
    const dup = await create({ ...good, name: 'dup' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');
    // a bad change leaves the row as it was
    const row = await registryByName(api.deps.db, 'dup');
    for (const body of [{ url: 'ftp://x' }, { caPem: 'junk' }, { kind: 'nope' }, { password: 'p'.repeat(5000) }])
      expect((await call('PATCH', '/api/v1/registries/dup', { auth: admin, body })).status).toBe(400);
    expect(await registryByName(api.deps.db, 'dup')).toEqual(row);
    expect(await storedCount()).toBe(before);
  });

  it('system admins only: users 403, anonymous 401', async () => {
    expect((await create({ name: 'by-user', url: 'http://127.0.0.1:1', kind: 'distribution' }, USER)).status).toBe(403);
    for (const [m, p] of [
      ['GET', '/api/v1/registries'],
      ['GET', '/api/v1/registries/dup'],
      ['PATCH', '/api/v1/registries/dup'],
      ['DELETE', '/api/v1/registries/dup'],
      ['POST', '/api/v1/registries/dup/ping'],
    ] as const) {
      expect((await call(m, p, { auth: USER, body: m === 'PATCH' ? { insecure: true } : undefined })).status, `${m} ${p}`).toBe(403);
      expect((await call(m, p, { body: m === 'PATCH' ? { insecure: true } : undefined })).status, `${m} ${p}`).toBe(401);
    }
    expect(await registryByName(api.deps.db, 'by-user')).toBeUndefined();
  });

  it('seals the password under replication.key (0600, AAD the name): not in the column, any answer, audit row or log line; another key cannot open it', async () => {
    const r = await create({ name: 'sealed', url: 'https://r.example.org', kind: 'harbor', username: 'robot$copy', password: PASSWORD });
    expect(r.status).toBe(201);
    await call('PATCH', '/api/v1/registries/sealed', { auth: admin, body: { password: `${PASSWORD}-2` } });
    const row = (await registryByName(api.deps.db, 'sealed'))!;
    expect(row.passwordSealed).toBeTruthy();
    expect(row.passwordSealed).not.toContain(PASSWORD);
    expect(Buffer.from(row.passwordSealed!, 'base64').toString('latin1')).not.toContain(PASSWORD);
    expect(registryEndpoint(api.deps, row).password).toBe(`${PASSWORD}-2`);

    const keyFile = path.join(running.dataDir, REPLICATION_KEY_FILE);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await readFile(keyFile)).length).toBe(32);
    // the same key file copied elsewhere opens it; a new key does not, nor the right key under another name
    const copy = await mkdtemp(path.join(os.tmpdir(), 'wharf-key-copy-'));
    const other = await mkdtemp(path.join(os.tmpdir(), 'wharf-key-other-'));
    try {
      await writeFile(path.join(copy, REPLICATION_KEY_FILE), await readFile(keyFile));
      expect(SecretBox.load(copy).open(row.passwordSealed!, 'sealed')).toBe(`${PASSWORD}-2`);
      expect(() => SecretBox.load(other).open(row.passwordSealed!, 'sealed')).toThrow();
      expect(() => SecretBox.load(copy).open(row.passwordSealed!, 'another')).toThrow();
      expect(() => registryEndpoint({ ...api.deps, secretBox: SecretBox.load(other) }, row)).toThrow(/cannot be opened/);
      await writeFile(path.join(other, REPLICATION_KEY_FILE), 'short');
      expect(() => SecretBox.load(other)).toThrow(/32 bytes/);
    } finally {
      await rm(copy, { recursive: true, force: true });
      await rm(other, { recursive: true, force: true });
    }

    const answers = [
      await call('GET', '/api/v1/registries', { auth: admin }),
      await call('GET', '/api/v1/registries/sealed', { auth: admin }),
      await call('POST', '/api/v1/registries/sealed/ping', { auth: admin }),
    ];
    for (const a of answers) expect(JSON.stringify(a.body)).not.toContain(PASSWORD);
    const rows = await api.deps.db.select().from(audit).where(eq(audit.resource, 'sealed'));
    expect(rows.map((x) => x.action).sort()).toEqual(['registry_create', 'registry_update']);
    expect(JSON.parse(rows[0]!.detail!)).toMatchObject({ hasPassword: true, username: 'robot$copy' });
    for (const x of rows) expect(JSON.stringify(x)).not.toContain(PASSWORD);
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line).not.toContain(PASSWORD);
  });

  it('a ping of an address where nothing listens is ok: false with the reason', async () => {
    expect((await create({ name: 'nowhere', url: 'http://127.0.0.1:1', kind: 'distribution' })).status).toBe(201);
    const r = await call('POST', '/api/v1/registries/nowhere/ping', { auth: admin });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: false, auth: 'none', error: expect.stringMatching(/cannot reach/) });
  });

  it('DELETE is 409 registry.inUse while a policy names it, and the row stays', async () => {
    expect((await create({ name: 'in-use', url: 'http://127.0.0.1:5000', kind: 'distribution' })).status).toBe(201);
    const row = (await registryByName(api.deps.db, 'in-use'))!;
    const library = (await findProject(api.deps.db, 'library'))!;
    await insertPolicyRow(api.deps.db, { name: 'mirror-out', direction: 'push', registryId: row.id, projectId: library.id, triggerType: 'manual' });
    const r = await call('DELETE', '/api/v1/registries/in-use', { auth: admin });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/mirror-out/);
    expect(await registryByName(api.deps.db, 'in-use')).toBeDefined();
  });
});
