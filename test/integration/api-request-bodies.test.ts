import http from 'node:http';
import { expect, it } from 'vitest';
import { header, type Answer } from '../support/api-client';
import { expectErrorShape, refused, refusedAny } from '../support/refusals';
import { CAST, CAST_PASSWORD as PW, uniqueName } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { listenerSuite } from '../support/api-suite';

/**
 * Request bodies on a real socket (no registry): the size limit with Content-Length and chunked,
 * keep-alive after a 413, and bodies that are not JSON (or carry no content type, which fetch would add).
 */

const suite = listenerSuite();
const { projectAdmin: ALICE } = CAST;

async function alpha(): Promise<string> {
  const name = uniqueName('alpha');
  expect((await suite.api.call('POST', '/api/v1/projects', { auth: ALICE, body: { name } })).status).toBe(201);
  return name;
}

it('a 2 MB body: 413 with the error shape (with Content-Length and chunked)', async () => {
  const project = await alpha();
  const big = JSON.stringify({ name: 'bigproj', public: true, pad: 'x'.repeat(2 * 1024 * 1024) });
  const json = { 'content-type': 'application/json' };
  await refused(suite.api, 413, () => suite.api.raw('POST', '/api/v1/projects', { auth: ALICE, body: big, headers: json }));
  await refused(suite.api, 413, () =>
    suite.api.raw('POST', '/api/v1/users', { auth: admin, body: JSON.stringify({ username: 'biguser', password: 'x'.repeat(2 * 1024 * 1024) }), headers: json }),
  );
  await refused(suite.api, 413, () => suite.api.raw('POST', '/api/v1/projects', { auth: ALICE, body: big, chunked: true, headers: json }));
  await refused(suite.api, 413, () => suite.api.raw('PATCH', `/api/v1/projects/${project}`, { auth: ALICE, body: big, chunked: true, headers: json }));
  // just under the limit is read and validated normally (unknown field -> 400, not 413)
  const almost = JSON.stringify({ name: 'bigproj', pad: 'x'.repeat(1000 * 1024) });
  await refused(suite.api, 400, () => suite.api.raw('POST', '/api/v1/projects', { auth: ALICE, body: almost, headers: json }));
});

// HTTP/1.1: a 413 sent while the client is still uploading makes it see a reset. An oversized
// body with a Content-Length (up to 8 MiB) is read and discarded first, so the 413 arrives and
// the keep-alive connection stays usable for the next request.
it('after a 413 the keep-alive connection stays usable', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const big = JSON.stringify({ name: 'bigproj', pad: 'x'.repeat(2 * 1024 * 1024) });
    for (let i = 0; i < 3; i++) {
      const r = await suite.api.raw('POST', '/api/v1/projects', { auth: ALICE, body: big, headers: { 'content-type': 'application/json' }, agent });
      expectErrorShape(r, 413);
      expect(String(header(r, 'connection')).toLowerCase()).not.toBe('close');
      const next = await suite.api.raw('GET', '/api/v1/me', { auth: ALICE, agent }).catch((err: Error) => ({ status: -1, body: String(err), headers: {} }) as Answer);
      expect(next.status, `next request on the same connection: ${JSON.stringify(next.body)}`).toBe(200);
    }
  } finally {
    agent.destroy();
  }
});

it('a body with a non-JSON content type (or none): 400 or 415, nothing changed', async () => {
  const project = await alpha();
  const cases: [string, string, string, string, string | undefined][] = [
    ['POST', '/api/v1/projects', ALICE, '{"name":"ctype"}', 'text/plain'],
    ['POST', '/api/v1/projects', ALICE, 'name=ctype', 'application/x-www-form-urlencoded'],
    ['POST', '/api/v1/projects', ALICE, '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nctype\r\n--b--\r\n', 'multipart/form-data; boundary=b'],
    ['POST', '/api/v1/users', admin, `username=ctype&password=${PW}`, 'application/x-www-form-urlencoded'],
    ['PATCH', '/api/v1/users/alice', admin, '{"disabled":true}', 'text/plain'],
    ['PATCH', '/api/v1/users/alice', admin, 'disabled=true', 'application/x-www-form-urlencoded'],
    ['PUT', '/api/v1/users/alice/password', admin, '{"newPassword":"x-password-1"}', 'text/plain'],
    ['PATCH', `/api/v1/projects/${project}`, ALICE, '{"public":true}', 'text/plain'],
    ['PATCH', `/api/v1/projects/${project}`, ALICE, '<public>true</public>', 'application/xml'],
    ['PUT', `/api/v1/projects/${project}/members/outsider`, ALICE, '{"role":"guest"}', 'text/plain'],
    ['POST', '/api/v1/projects', ALICE, '{"name":"ctype"}', undefined],
    ['PATCH', `/api/v1/projects/${project}`, ALICE, '{"public":true}', undefined],
  ];
  for (const [method, path, auth, body, type] of cases) {
    const r = await refusedAny(suite.api, [400, 415], () => suite.api.raw(method, path, { auth, body, headers: type ? { 'content-type': type } : {} }));
    expect(r.body.error.code.length).toBeGreaterThan(0);
  }
});
