import { describe, expect, it } from 'vitest';
import { expectErrorShape } from '../support/refusals';
import { CAST, CAST_PASSWORD as PW } from '../support/role-matrix';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/** GET /api/v1/me in-process: who the caller is, and the one 401 for every kind of wrong credential. */

const suite = inProcessSuite('wharf-api-me-');
const { call } = suite;
const { projectAdmin: ALICE, guest: GUEST } = CAST;

describe('the caller', () => {
  it('GET /me answers the caller {username, admin, source}', async () => {
    const a = await call('GET', '/api/v1/me', { auth: admin });
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ username: 'admin', admin: true, source: 'local' });
    const b = await call('GET', '/api/v1/me', { auth: ALICE });
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ username: 'alice', admin: false, source: 'local' });
  });

  it('GET /me without credentials: 401 with WWW-Authenticate', async () => {
    expectErrorShape(await call('GET', '/api/v1/me'), 401);
  });

  it('GET /me with a wrong password, an unknown user, or a non-Basic scheme: 401', async () => {
    expectErrorShape(await call('GET', '/api/v1/me', { auth: 'outsider:wrong-password' }), 401);
    expectErrorShape(await call('GET', '/api/v1/me', { auth: `nobody-here:${PW}` }), 401);
    expectErrorShape(await call('GET', '/api/v1/me', { headers: { authorization: 'Bearer abc.def.ghi' } }), 401);
  });

  it('a wrong password, an unknown user and an empty password answer the same 401', async () => {
    const wrong = await call('GET', '/api/v1/me', { auth: 'guest1:wrong-password' });
    const unknown = await call('GET', '/api/v1/me', { auth: 'ghost-user:wrong-password' });
    const empty = await call('GET', '/api/v1/me', { auth: 'guest1:' });
    for (const r of [wrong, unknown, empty]) expectErrorShape(r, 401);
    expect(unknown.body).toEqual(wrong.body);
    expect(empty.body).toEqual(wrong.body);
    expect((await call('GET', '/api/v1/me', { auth: GUEST })).status).toBe(200);
  });

  it('a malformed Basic header is a 400, not a 500', async () => {
    for (const value of ['Basic !!!notbase64', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic ' + Buffer.from([0xff, 0xfe, 0x3a]).toString('base64')]) {
      const r = await call('GET', '/api/v1/me', { headers: { authorization: value } });
      expectErrorShape(r, 400);
    }
  });
});
