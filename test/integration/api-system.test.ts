import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenerApi, type ListenerApiClient } from '../support/api-client';
import { CAST_PASSWORD as PW } from '../support/role-matrix';
import { ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/** The anonymous system endpoints of a real Wharf with its supervised registry (health asks it). */

let w: TestWharf;
let api: ListenerApiClient;

beforeAll(async () => {
  w = await startTestWharf();
  api = listenerApi(w);
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

describe('system endpoints', () => {
  it('GET /health answers anonymously with {status, database, registry, ldap, scheduler}', async () => {
    const r = await api.call('GET', '/api/v1/health');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'healthy', database: 'ok', registry: 'ok', ldap: 'disabled', scheduler: 'leader' });
  });

  it('GET /openapi.json answers anonymously with an OpenAPI 3 document of these endpoints', async () => {
    const r = await api.call('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    expect(r.body.components.securitySchemes.basicAuth).toMatchObject({ type: 'http', scheme: 'basic' });
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/users',
      '/users/{username}',
      '/users/{username}/password',
      '/projects',
      '/projects/{project}',
      '/projects/{project}/members',
      '/projects/{project}/members/{username}',
      '/me',
      '/health',
    ])
      expect(paths).toContain(p);
    expect(Object.keys(r.body.paths['/users/{username}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(r.body.paths['/projects/{project}/members/{username}'])).toEqual(expect.arrayContaining(['put', 'delete']));
  });

  it('health and the OpenAPI document reveal no secrets', async () => {
    const notificationSecret = w.wharf.deps.notificationSecrets.current;
    for (const path of ['/api/v1/health', '/api/v1/openapi.json']) {
      const r = await api.call('GET', path);
      const text = JSON.stringify(r.body);
      expect(text).not.toContain(ADMIN_PASSWORD);
      expect(text).not.toContain(notificationSecret);
      expect(text).not.toContain(PW);
    }
  });
});
