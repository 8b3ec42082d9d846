import { expect, it } from 'vitest';
import { refused, refusedAny } from '../support/refusals';
import { CAST, arrangeProject, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { listenerSuite } from '../support/api-suite';

/**
 * Paths sent byte for byte to a listening Wharf (fetch would normalise `..` and `%2e%2e`), so it
 * needs a socket but no registry: encoded slashes, dot-dot, odd lengths and bytes are 400 or 404
 * and never reach a private project. Each test makes its own private `alpha` and public `pubproj`.
 */

const suite = listenerSuite();

type Caller = 'alice' | 'outsider' | 'admin';

// [label, method, raw path ({alpha}, {ALPHA} and {pubproj} stand for the test's projects), caller]
const pathTricks: [string, string, string, Caller][] = [
  ['uppercase of an existing project', 'GET', '/api/v1/projects/{ALPHA}', 'alice'],
  ['encoded slash to reach members', 'GET', '/api/v1/projects/{alpha}%2Fmembers', 'outsider'],
  ['encoded dot-dot', 'GET', '/api/v1/projects/%2e%2e', 'admin'],
  ['encoded dot-dot and slash', 'GET', '/api/v1/projects/..%2F{alpha}', 'outsider'],
  ['dot-dot from a public project into a private one', 'GET', '/api/v1/projects/{pubproj}/../{alpha}/members', 'outsider'],
  ['encoded dot-dot from a public project into a private one', 'GET', '/api/v1/projects/{pubproj}/%2e%2e/{alpha}/members', 'outsider'],
  ['double-encoded slash', 'GET', '/api/v1/projects/{alpha}%252Fmembers', 'outsider'],
  ['301-character project', 'GET', `/api/v1/projects/${'x'.repeat(301)}`, 'admin'],
  ['300-character project', 'GET', `/api/v1/projects/${'x'.repeat(300)}`, 'admin'],
  ['NUL in project', 'GET', '/api/v1/projects/{alpha}%00', 'admin'],
  ['bad percent-encoding', 'GET', '/api/v1/projects/%E0%A4%A', 'admin'],
  ['delete with encoded slash', 'DELETE', '/api/v1/projects/{alpha}%2F', 'admin'],
  ['delete with encoded slash suffix', 'DELETE', '/api/v1/projects/{pubproj}%2F..%2F{alpha}', 'alice'],
  ['patch uppercase', 'PATCH', '/api/v1/projects/{ALPHA}', 'admin'],
  ['member path escape', 'PUT', '/api/v1/projects/{alpha}/members/..%2F..%2Fusers%2Fadmin', 'alice'],
  ['member with $', 'PUT', '/api/v1/projects/{alpha}/members/robot${alpha}+x', 'alice'],
  ['65-character member', 'PUT', `/api/v1/projects/{alpha}/members/${'u'.repeat(65)}`, 'alice'],
  ['user path escape', 'DELETE', '/api/v1/users/alice%2F..%2Foutsider', 'admin'],
  ['65-character user', 'GET', `/api/v1/users/${'u'.repeat(65)}`, 'admin'],
  ['password of a dot-dot user', 'PUT', '/api/v1/users/%2e%2e/password', 'admin'],
];

it.each(pathTricks)('path trick (%s): 400 or 404', async (_label, method, template, caller) => {
  const alpha = (await arrangeProject(suite.api, uniqueName('alpha'))).name;
  const pubproj = (await arrangeProject(suite.api, uniqueName('pubproj'), { public: true })).name;
  const path = template.replaceAll('{alpha}', alpha).replaceAll('{ALPHA}', alpha.toUpperCase()).replaceAll('{pubproj}', pubproj);
  const auth = { alice: CAST.projectAdmin, outsider: CAST.outsider, admin }[caller];
  const body = method === 'PATCH' ? '{"public":true}' : method === 'PUT' ? JSON.stringify(path.includes('/password') ? { newPassword: 'x-password-1' } : { role: 'projectAdmin' }) : undefined;
  const r = await refusedAny(suite.api, [400, 404], () => suite.api.raw(method, path, { auth, body, headers: body ? { 'content-type': 'application/json' } : {} }));
  // never a list of alpha's members through a trick
  expect(JSON.stringify(r.body)).not.toContain('projectAdmin');
});

it('a 301-character project in the path is a 400 (over the parameter limit)', async () => {
  await refused(suite.api, 400, () => suite.api.call('GET', `/api/v1/projects/${'x'.repeat(301)}`, { auth: admin }));
});
