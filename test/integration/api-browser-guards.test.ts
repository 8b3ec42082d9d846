import { expect, it } from 'vitest';
import { header } from '../support/api-client';
import { auditRows } from '../support/audit-trail';
import { expectErrorShape } from '../support/refusals';
import { CAST, CAST_PASSWORD as PW } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { listenerSuite } from '../support/api-suite';

/** What /api/v1 does about browsers on a real socket (the Host header is the socket's; no registry): cross-site writes and caching. */

const suite = listenerSuite();
const { projectAdmin: ALICE } = CAST;

it('a state-changing request marked cross-site is refused before credentials are looked at, even with valid Basic credentials', async () => {
  const host = new URL(suite.api.url).host;
  const before = (await auditRows(suite.api, 'user_create')).length;
  const attempts: Record<string, string>[] = [
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { origin: 'not a url' },
  ];
  for (const headers of attempts) {
    const r = await suite.api.call('POST', '/api/v1/users', { auth: admin, headers, body: { username: 'csrf-victim', password: PW } });
    expectErrorShape(r, 403);
  }
  expect((await auditRows(suite.api, 'user_create')).length).toBe(before);
  expect((await suite.api.call('GET', '/api/v1/users/csrf-victim', { auth: admin })).status).toBe(404);
  // Reads are not affected, nor are same-origin writes or scripts that send neither header.
  expect((await suite.api.call('GET', '/api/v1/users', { auth: admin, headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
  const sameOrigin = await suite.api.call('POST', '/api/v1/users', { auth: admin, headers: { origin: `http://${host}` }, body: { username: 'csrf-ok-1', password: PW } });
  expect(sameOrigin.status).toBe(201);
  const fetchSite = await suite.api.call('POST', '/api/v1/users', { auth: admin, headers: { 'sec-fetch-site': 'same-origin' }, body: { username: 'csrf-ok-2', password: PW } });
  expect(fetchSite.status).toBe(201);
  for (const u of ['csrf-ok-1', 'csrf-ok-2']) expect((await suite.api.call('DELETE', `/api/v1/users/${u}`, { auth: admin })).status).toBe(204);
});

it('API answers are never cached: Cache-Control no-store, also on the one answer that carries a new secret', async () => {
  const created = await suite.api.call('POST', '/api/v1/users/alice/tokens', { auth: ALICE, body: { name: 'nocache' } });
  expect(created.status).toBe(201);
  expect(header(created, 'cache-control')).toBe('no-store');
  expect(header(await suite.api.call('GET', '/api/v1/projects', { auth: ALICE }), 'cache-control')).toBe('no-store');
  expect((await suite.api.call('DELETE', '/api/v1/users/alice/tokens/nocache', { auth: ALICE })).status).toBe(204);
});
