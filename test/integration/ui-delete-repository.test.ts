import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, buildIndex, type BuiltIndex } from '../support/oci';
import { i18n } from '../../ui/i18n';
import { registryView } from '../support/registry-view';
import { waitFor } from '../support/wait';
import { manifests } from '../support/tables';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Deleting a whole repository, and a platform image of a tagged index, from the web UI, down to the real registry. */

let w: TestWharf;
let work: string;
let index: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-ui-repo-'));
  const [started, image, built] = await Promise.all([startTestWharf(), buildImage(path.join(work, 'img')), buildIndex(path.join(work, 'idx'), { tag: 'multi' })]);
  w = started;
  index = built;
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

async function session(username: string, password: string, lang = 'en') {
  const res = await fetch(`${w.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: `wharf_lang=${lang}; ${(res.headers.get('set-cookie') ?? '').split(';')[0]!}`, csrf: body.csrfToken };
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

it('a platform image of a tagged index is deleted only after the forced confirmation, in the visitor\'s language', async () => {
  const child = index.childDigests[1]!;
  const push = async (src: string, ref: string, srcCreds?: string) => {
    const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: admin, srcCreds });
    expect(r.code, r.stderr).toBe(0);
  };
  await push(`oci:${index.dir}:multi`, 'team/multi:1');
  await push(`docker://${w.registry}/team/multi@${child}`, 'team/multi:arm64', admin);
  await waitFor(async () => {
    const view = await registryView(w.url, w.registry);
    const tags = (await w.api('GET', '/api/v1/repositories/team%2Fmulti/tags', { auth: admin })).body;
    return view['team/multi']?.arm64 === child && tags.items?.length === 2;
  });
  await w.wharf.deps.details.idle();
  await waitFor(async () => (await w.wharf.deps.db.select().from(manifests)).some((m) => m.digest === index.indexDigest && m.children !== null));

  const { t } = i18n('de');
  const owner = await session('owner', 'owner-password-1', 'de');
  const query = new URLSearchParams({ repository: 'team/multi', digest: child }).toString();
  const confirm = await fetch(`${w.url}/delete/image?${query}`, { headers: { cookie: owner.cookie } });
  const page = await confirm.text();
  expect(confirm.status).toBe(200);
  expect(page).toContain(t('delete.imageInIndex', { index: index.indexDigest, tags: '1' }));
  expect(page).toMatch(/<input type="checkbox" name="force" value="true" required/);

  // Without the checkbox the service refuses; the page says why, in German, and asks again.
  const refused = await postForm(owner, '/delete/image', { repository: 'team/multi', digest: child });
  const refusedPage = await refused.text();
  expect(refused.status).toBe(409);
  expect(refusedPage).toContain(t('err.delete.inIndex', { digest: child, index: index.indexDigest }));
  expect(refusedPage).not.toContain('force=true');
  expect(refusedPage).toContain('name="force"');
  expect((await skopeoInspect(`docker://${w.registry}/team/multi@${child}`, admin)).code).toBe(0);

  const forced = await postForm(owner, '/delete/image', { repository: 'team/multi', digest: child, force: 'true' });
  expect(forced.status).toBe(303);
  expect((await skopeoInspect(`docker://${w.registry}/team/multi@${child}`, admin)).code).not.toBe(0);
  const view = await registryView(w.url, w.registry);
  expect(view['team/multi']).toEqual({ '1': index.indexDigest });
  const tags = (await w.api('GET', '/api/v1/repositories/team%2Fmulti/tags', { auth: admin })).body;
  expect(tags.items.map((x: { name: string }) => x.name)).toEqual(['1']);
  const audit = await w.api('GET', '/api/v1/audit?action=image_delete&repository=team%2Fmulti', { auth: admin });
  expect(audit.body.items[0]).toMatchObject({ username: 'owner', digest: child });
});
