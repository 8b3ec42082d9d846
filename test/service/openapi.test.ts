import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../src/app';
import { startAppInstance, type AppInstance } from '../support/instance';

/** The OpenAPI document: valid, served to anyone, and listing every mounted /api/v1 route (in-process). */

let running: AppInstance;
let doc: any;

beforeAll(async () => {
  // The document never asks the registry: the in-process app serves it.
  running = await startAppInstance('wharf-openapi-');
  const res = await running.app.request('/api/v1/openapi.json');
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(() => running?.stop());

describe('GET /api/v1/openapi.json', () => {
  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('documents every route the API mounts, with its method', () => {
    const mounted = createApi()
      .routes.filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    expect(mounted.length).toBeGreaterThan(20);
    expect([...new Set(mounted)].sort()).toEqual([...new Set(documented)].sort());
  });

  it('every operation has responses with schemas, and the security schemes are declared', () => {
    expect(doc.components.securitySchemes.basicAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'basic' }));
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.responses, `${method} ${p}`).toBeTruthy();
        const ok = Object.entries(op.responses as Record<string, any>).filter(([code]) => code.startsWith('2'));
        expect(ok.length, `${method} ${p}`).toBeGreaterThan(0);
        // Files (the audit export) name their media types; everything else answers JSON.
        const files = ['application/x-ndjson', 'text/csv'];
        for (const [code, r] of ok)
          if (code !== '204') expect(r.content?.['application/json']?.schema ?? files.map((t) => r.content?.[t]?.schema).every(Boolean), `${method} ${p} ${code}`).toBeTruthy();
        if (['post', 'put', 'patch'].includes(method) && !p.endsWith('/reconcile'))
          expect(op.requestBody?.content?.['application/json']?.schema, `${method} ${p} body`).toBeTruthy();
        expect(op.security, `${method} ${p} security`).toBeDefined();
      }
    }
  });

  it('includes the contract paths of API.md', () => {
    for (const p of [
      '/health',
      '/me',
      '/users',
      '/users/{username}',
      '/users/{username}/password',
      '/users/{username}/tokens',
      '/projects',
      '/projects/{project}',
      '/projects/{project}/members',
      '/projects/{project}/members/{username}',
      '/projects/{project}/robots',
      '/projects/{project}/robots/{name}',
      '/repositories',
      '/repositories/{repository}/tags',
      '/repositories/{repository}/tags/{tag}',
      '/repositories/{repository}/manifests/{digest}',
      '/repositories/{repository}',
      '/audit',
      '/audit/export',
      '/system/reconcile',
      '/session',
      '/projects/{project}/groups',
      '/projects/{project}/groups/{group}',
    ])
      expect(doc.paths[p], p).toBeTruthy();
  });
});
