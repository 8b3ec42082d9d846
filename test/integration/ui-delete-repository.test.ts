import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { skopeoCopy } from '../support/clients';
import { buildImage } from '../support/oci';
import { registryView } from '../support/registry-view';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Deleting a whole repository from the web UI, down to the real registry. */

let w: TestWharf;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-ui-repo-'));
  const [started, image] = await Promise.all([startTestWharf(), buildImage(path.join(work, 'img'))]);
  w = started;
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'owner', password: 'owner-password-1' } });
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'viewer', password: 'viewer-password-1' } });
  await w.api('POST', '/api/v1/projects', { auth: 'owner:owner-password-1', body: { name: 'team' } });
  await w.api('PUT', '/api/v1/projects/team/members/viewer', { auth: 'owner:owner-password-1', body: { role: 'guest' } });
  for (const ref of ['team/app:1', 'team/app:2', 'team/keep:1']) {
    const r = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/${ref}`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
  }
  await waitFor(async () => (await w.api('GET', '/api/v1/repositories?project=team', { auth: admin })).body.total === 2);
});

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function session(username: string, password: string) {
  const res = await fetch(`${w.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, csrf: body.csrfToken };
}

const postForm = (s: { cookie: string; csrf: string }, p: string, fields: Record<string, string>) =>
  fetch(`${w.url}${p}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: s.csrf, ...fields }).toString(),
  });

it('a guest is refused and nothing changes; the project admin deletes it after the confirmation page', async () => {
  const guest = await session('viewer', 'viewer-password-1');
  expect((await postForm(guest, '/delete/repository', { repository: 'team/app' })).status).toBe(403);
  expect((await registryView(w.url, w.registry))['team/app']).toBeTruthy();

  const owner = await session('owner', 'owner-password-1');
  const confirm = await fetch(`${w.url}/delete/repository?repository=team%2Fapp`, { headers: { cookie: owner.cookie } });
  expect(confirm.status).toBe(200);
  const res = await postForm(owner, '/delete/repository', { repository: 'team/app' });
  expect(res.status).toBe(303);
  const view = await registryView(w.url, w.registry);
  expect(view['team/app']).toBeUndefined();
  expect(view['team/keep']).toBeTruthy();
  const repos = await w.api('GET', '/api/v1/repositories?project=team', { auth: admin });
  expect(repos.body.items.map((r: { name: string }) => r.name)).toEqual(['team/keep']);
});
