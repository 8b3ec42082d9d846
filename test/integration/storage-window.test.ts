import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushTokensUntil } from '../../src/storage/state';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { startPlainRegistry, type PlainRegistry } from '../support/plain-registry';
import { registryView } from '../support/registry-view';
import { waitExecutionDone, waitTagsKnown } from '../support/replication-api';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * The read-only window against the real registry and real clients: pushes and deletes refused with
 * the reason, pulls still served, short push tokens, deletes through the API and the UI answered
 * 503, and replication into this registry waiting until the window ends.
 */

const DEV = 'dev:dev-password-1';
const REASON = 'disk migration until noon';
const PUSH_SECONDS = 30;
let w: TestWharf;
let source: PlainRegistry;
let work: string;
let image: BuiltImage;
let other: BuiltImage;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-window-'));
  [w, source, image, other] = await Promise.all([
    startTestWharf({ storage: { pushTokenExpiresIn: PUSH_SECONDS }, replication: { retryBaseMs: 50, retryMaxMs: 200 } }),
    startPlainRegistry(),
    buildImage(path.join(work, 'a'), { tag: 'v1' }),
    buildImage(path.join(work, 'b'), { tag: 'v1' }),
  ]);
  expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'dev', password: 'dev-password-1' } })).status).toBe(201);
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  expect((await w.api('PUT', '/api/v1/projects/team/members/dev', { auth: admin, body: { role: 'developer' } })).status).toBe(200);
  await push(`oci:${image.dir}:v1`, 'team/app:v1');
  await waitTagsKnown(w.api, admin, 'team/app', ['v1']);
}, 60_000);

afterAll(async () => {
  await w?.api('PUT', '/api/v1/system/read-only', { auth: admin, body: { readOnly: false } });
  await Promise.allSettled([w?.stop(), source?.stop()]);
  await rm(work, { recursive: true, force: true });
});

async function push(src: string, ref: string) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: DEV });
  expect(r.code, r.stderr).toBe(0);
}

const readOnly = async (on: boolean) => {
  const r = await w.api('PUT', '/api/v1/system/read-only', { auth: admin, body: on ? { readOnly: true, reason: REASON } : { readOnly: false } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.readOnly).toBe(on);
};

const service = () => w.wharf.deps.config.token.service;
const tokenGet = (scope: string, auth = DEV) =>
  fetch(`${w.url}/service/token?service=${encodeURIComponent(service())}&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
  });
const tokenPost = (scope: string) =>
  fetch(`${w.url}/service/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'dev', password: 'dev-password-1', service: service(), scope, client_id: 'test' }).toString(),
  });

describe('the read-only window', () => {
  it('refuses a skopeo push (403 at the token request), still serves pulls; the same push works after', async () => {
    await readOnly(true);
    try {
      const refused = await skopeoCopy(`oci:${other.dir}:v1`, `docker://${w.registry}/team/app:v2`, { destCreds: DEV });
      expect(refused.code).not.toBe(0);
      // skopeo prints only the status of a refused token request, not its body (docker prints the reason: see quota.test.ts).
      expect(refused.stderr).toContain('403');
      const pulled = await skopeoInspect(`docker://${w.registry}/team/app:v1`, DEV);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect((await registryView(w.url, w.registry))['team/app']).toEqual({ v1: image.manifestDigest });
    } finally {
      await readOnly(false);
    }
    await push(`oci:${other.dir}:v1`, 'team/app:v2');
    expect((await registryView(w.url, w.registry))['team/app']?.v2).toBe(other.manifestDigest);
  });

  it('the token endpoint answers 403 DENIED with the reason (GET) and invalid_scope (POST); pull-only tokens are still issued', async () => {
    await readOnly(true);
    try {
      const get = await tokenGet('repository:team/app:pull,push');
      expect(get.status).toBe(403);
      const body = (await get.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors).toEqual([{ code: 'DENIED', message: expect.stringContaining(REASON) }]);
      const post = await tokenPost('repository:team/app:pull,push');
      expect(post.status).toBe(403);
      expect(((await post.json()) as { error: string }).error).toBe('invalid_scope');
      const del = await tokenGet('repository:team/app:delete', admin);
      expect(del.status).toBe(403);
      const pull = await tokenGet('repository:team/app:pull');
      expect(pull.status).toBe(200);
      expect(((await pull.json()) as { token: string }).token.length).toBeGreaterThan(20);
      expect((await tokenPost('repository:team/app:pull')).status).toBe(200);
    } finally {
      await readOnly(false);
    }
  });

  it('tokens carrying push are short-lived and recorded (pushTokensUntil advances); pull tokens keep the normal lifetime', async () => {
    const db = w.wharf.deps.db;
    const before = await pushTokensUntil(db);
    const started = Date.now();
    const pushToken = (await (await tokenGet('repository:team/app:pull,push')).json()) as { expires_in: number };
    expect(pushToken.expires_in).toBe(PUSH_SECONDS);
    const until = await pushTokensUntil(db);
    expect(until).toBeGreaterThan(before);
    expect(until).toBeGreaterThanOrEqual(started + PUSH_SECONDS * 1000 - 1000);
    const pullToken = (await (await tokenGet('repository:team/app:pull')).json()) as { expires_in: number };
    // A reused token (the token cache) answers what is left of its lifetime.
    expect(pullToken.expires_in).toBeGreaterThan(w.wharf.deps.config.token.expiresIn - 10);
    expect(pullToken.expires_in).toBeLessThanOrEqual(w.wharf.deps.config.token.expiresIn);
    expect(pullToken.expires_in).toBeGreaterThan(PUSH_SECONDS);
    expect(await pushTokensUntil(db)).toBe(until);
  });

  it('deletes through the API answer 503 read_only and through the UI the localized reason; the tag stays', async () => {
    await waitTagsKnown(w.api, admin, 'team/app', ['v1', 'v2']);
    await readOnly(true);
    try {
      const r = await w.api('DELETE', '/api/v1/repositories/team%2Fapp/tags/v2', { auth: admin });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('read_only');
      expect(r.body.error.message).toContain(REASON);
      const login = await fetch(`${w.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: admin.split(':')[1] }) });
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const cookie = `wharf_lang=de; ${(login.headers.get('set-cookie') ?? '').split(';')[0]!}`;
      const ui = await fetch(`${w.url}/delete/tag`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrfToken, repository: 'team/app', tag: 'v2' }).toString(),
      });
      expect(ui.status).toBe(503);
      const html = await ui.text();
      expect(html).toContain('schreibgeschützt');
      expect(html).toContain(REASON);
      expect((await registryView(w.url, w.registry))['team/app']?.v2).toBe(other.manifestDigest);
      const tags = await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin });
      expect(tags.body.items.map((t: { name: string }) => t.name).sort()).toEqual(['v1', 'v2']);
    } finally {
      await readOnly(false);
    }
    expect((await w.api('DELETE', '/api/v1/repositories/team%2Fapp/tags/v2', { auth: admin })).status).toBe(204);
  });

  it('a pull replication waits in the window (its task is not done) and completes after it ends; a push policy keeps copying out', async () => {
    const src = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${source.host}/lib/one:v1`);
    expect(src.code, src.stderr).toBe(0);
    expect((await w.api('POST', '/api/v1/registries', { auth: admin, body: { name: 'src', url: source.url, kind: 'distribution' } })).status).toBe(201);
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'pulled' } })).status).toBe(201);
    const policy = (body: Record<string, unknown>) => w.api('POST', '/api/v1/replication/policies', { auth: admin, body: { registry: 'src', trigger: { type: 'manual' }, replicateExisting: false, ...body } });
    expect((await policy({ name: 'in', direction: 'pull', project: 'pulled', filters: { repositories: ['lib/one'] } })).status).toBe(201);
    expect((await policy({ name: 'out', direction: 'push', project: 'team', destination: 'copies' })).status).toBe(201);
    await readOnly(true);
    let pullRun: number;
    try {
      const started = await w.api('POST', '/api/v1/replication/policies/in/executions', { auth: admin, body: {} });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      pullRun = started.body.id;
      const out = await w.api('POST', '/api/v1/replication/policies/out/executions', { auth: admin, body: {} });
      expect(out.status, JSON.stringify(out.body)).toBe(202);
      expect(await waitExecutionDone(w.api, admin, out.body.id, 30_000)).toMatchObject({ status: 'succeeded' });
      // Several retry intervals (200 ms here) pass: the pull task is still waiting, not failed.
      await new Promise((r) => setTimeout(r, 1500));
      const waiting = await w.api('GET', `/api/v1/replication/executions/${pullRun}`, { auth: admin });
      expect(waiting.body.status).toMatch(/pending|running/);
      expect(waiting.body.succeeded ?? 0).toBe(0);
      expect(waiting.body.failed ?? 0).toBe(0);
      expect((await registryView(w.url, w.registry))['pulled/one']).toBeUndefined();
    } finally {
      await readOnly(false);
    }
    expect(await waitExecutionDone(w.api, admin, pullRun, 30_000)).toMatchObject({ status: 'succeeded', succeeded: 1 });
    expect((await registryView(w.url, w.registry))['pulled/one']).toEqual({ v1: image.manifestDigest });
  });

  it('the web UI: the system page switches the window with a reason; the project page shows usage and admins set the limit', async () => {
    const login = await fetch(`${w.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: admin.split(':')[1] }) });
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const cookie = `wharf_lang=en; ${(login.headers.get('set-cookie') ?? '').split(';')[0]!}`;
    const post = (p: string, fields: Record<string, string>) =>
      fetch(`${w.url}${p}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrfToken, ...fields }).toString() });
    const page = async (p: string) => (await fetch(`${w.url}${p}`, { headers: { cookie } })).text();

    expect((await post('/system/read-only', { readOnly: 'true', reason: 'ui window' })).status).toBe(303);
    expect((await w.api('GET', '/api/v1/system/read-only', { auth: admin })).body).toMatchObject({ readOnly: true, reason: 'ui window' });
    expect(await page('/system')).toContain('Reason: ui window.');
    const tooLong = await post('/system/read-only', { readOnly: 'true', reason: 'x'.repeat(201) });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain('at most 200 printable characters');
    expect((await post('/system/read-only', { readOnly: 'false' })).status).toBe(303);
    expect((await w.api('GET', '/api/v1/system/read-only', { auth: admin })).body.readOnly).toBe(false);

    expect((await post('/projects/team/quota', { limit: '1.5', unit: 'GiB' })).status).toBe(303);
    expect((await w.api('GET', '/api/v1/projects/team/quota', { auth: admin })).body.limitBytes).toBe(1.5 * 2 ** 30);
    const html = await page('/projects/team');
    expect(html).toMatch(/<meter class="quota-bar"[^>]*max="1610612736"/);
    expect(html).toContain('of 1.6 GB used');
    const bad = await post('/projects/team/quota', { limit: 'lots', unit: 'GiB' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('whole number of bytes');
    expect((await w.api('GET', '/api/v1/projects/team/quota', { auth: admin })).body.limitBytes).toBe(1.5 * 2 ** 30);
    expect((await post('/projects/team/quota', { limit: '', unit: 'GiB' })).status).toBe(303);
    expect((await w.api('GET', '/api/v1/projects/team/quota', { auth: admin })).body.limitBytes).toBeNull();
  });
});
