import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Registry ping against real registries: a plain one without auth, one with htpasswd Basic auth,
 * and a Wharf-managed one (Bearer from Wharf's token service) reached with a system robot's
 * credentials; and skopeo pushing and reading as that system robot.
 */

const HTPASSWD = { username: 'copier', password: 'copier-password-1' };

let work: string;
let plain: PlainRegistry;
let basicAuth: PlainRegistry;
let w: TestWharf;
let image: BuiltImage;
let robotCreds: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-registries-ping-'));
  [plain, basicAuth, w, image] = await Promise.all([
    startPlainRegistry(),
    startPlainRegistry({ htpasswd: HTPASSWD }),
    startTestWharf(),
    buildImage(path.join(work, 'img'), { tag: 'v1', layers: 1 }),
  ]);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'target' } })).status).toBe(201);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'elsewhere' } })).status).toBe(201);
  const r = await w.api('POST', '/api/v1/robots', { auth: admin, body: { name: 'replicator', permissions: ['pull', 'push'], projects: ['target'] } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  robotCreds = `${r.body.name}:${r.body.secret}`;
}, 120_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), basicAuth?.stop(), w?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function addAndPing(name: string, body: Record<string, unknown>) {
  const created = await w.api('POST', '/api/v1/registries', { auth: admin, body: { name, kind: 'distribution', ...body } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const r = await w.api('POST', `/api/v1/registries/${name}/ping`, { auth: admin });
  expect(r.status).toBe(200);
  return r.body as { ok: boolean; auth: string; error?: string };
}

describe('registry ping', () => {
  it('a plain registry without auth: ok, auth none', async () => {
    expect(await addAndPing('plain', { url: plain.url })).toEqual({ ok: true, auth: 'none' });
  });

  it('an htpasswd registry: right credentials ok with auth basic; wrong or none ok false with the reason', async () => {
    expect(await addAndPing('basic-right', { url: basicAuth.url, ...HTPASSWD })).toEqual({ ok: true, auth: 'basic' });
    expect(await addAndPing('basic-wrong', { url: basicAuth.url, username: HTPASSWD.username, password: 'wrong' })).toEqual({
      ok: false,
      auth: 'basic',
      error: expect.stringMatching(/refused the credentials \(401\)/),
    });
    expect(await addAndPing('basic-none', { url: basicAuth.url })).toEqual({ ok: false, auth: 'basic', error: expect.stringMatching(/asks for a user name/) });
  });

  it("a Wharf registry: bearer; a system robot's credentials ok, a wrong secret refused by the token service", async () => {
    expect(await addAndPing('wharf-robot', { url: `http://${w.registry}`, kind: 'wharf', username: robotCreds.split(':')[0], password: robotCreds.slice(robotCreds.indexOf(':') + 1) })).toEqual({
      ok: true,
      auth: 'bearer',
    });
    expect(await addAndPing('wharf-wrong', { url: `http://${w.registry}`, kind: 'wharf', username: 'robot$replicator', password: 'wrb_wrong' })).toEqual({
      ok: false,
      auth: 'bearer',
      error: expect.stringMatching(/token service at \S+ refused the credentials \(401\)/),
    });
  });

  it('a URL that is not a registry: ok false with the reason', async () => {
    expect(await addAndPing('not-a-registry', { url: w.url })).toEqual({ ok: false, auth: 'none', error: expect.stringMatching(/not a registry/) });
  });
});

describe('a system robot with skopeo', () => {
  it('pushes to and reads from its project, and is refused elsewhere', async () => {
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/target/app:1`, { destCreds: robotCreds });
    expect(pushed.code, pushed.stderr).toBe(0);
    const inspected = await skopeoInspect(`docker://${w.registry}/target/app:1`, robotCreds, { raw: true });
    expect(inspected.code, inspected.stderr).toBe(0);
    const refused = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/elsewhere/app:1`, { destCreds: robotCreds });
    expect(refused.code).not.toBe(0);
    const wrong = await skopeoInspect(`docker://${w.registry}/target/app:1`, 'robot$replicator:wrb_wrong');
    expect(wrong.code).not.toBe(0);
  });
});
