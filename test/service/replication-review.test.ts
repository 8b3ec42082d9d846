import { describe, expect, it } from 'vitest';
import { refused } from '../support/refusals';
import { uniqueName } from '../support/role-matrix';
import { registries } from '../support/tables';
import { admin } from '../support/wharf';
import { inProcessSuite } from '../support/api-suite';

/**
 * An attacker's inputs to the replication API in-process (no registry is asked): numbers past
 * what the engines store are 400s on both engines, never a 500 from a failed query.
 */

const suite = inProcessSuite('wharf-replication-review-');
const { call } = suite;
const db = () => suite.api.deps.db;

const PAST_INTEGER = 2 ** 31;

describe('ids and numbers past what the engines store', () => {
  it.each([
    `/api/v1/replication/executions/${PAST_INTEGER}`,
    `/api/v1/replication/executions/${Number.MAX_SAFE_INTEGER}/tasks`,
    `/api/v1/replication/executions?before=${PAST_INTEGER}`,
    `/api/v1/replication/executions/1/tasks?after=${PAST_INTEGER}`,
  ])('GET %s: 400', async (path) => {
    await refused(suite.api, 400, () => call('GET', path, { auth: admin }));
  });

  it.each(['stop', 'retry'])('POST an execution %s past the largest id: 400', async (action) => {
    await refused(suite.api, 400, () => call('POST', `/api/v1/replication/executions/${PAST_INTEGER}/${action}`, { auth: admin }));
  });

  it('a bandwidth limit past what the column holds: 400, nothing stored', async () => {
    const registry = uniqueName('target');
    await db().insert(registries).values({ name: registry, url: 'http://127.0.0.1:1', kind: 'distribution', createdBy: 'admin' });
    const project = uniqueName('team');
    expect((await call('POST', '/api/v1/projects', { auth: admin, body: { name: project } })).status).toBe(201);
    const body = { name: uniqueName('p'), direction: 'push', registry, project, trigger: { type: 'manual' }, replicateExisting: false, bandwidthKBps: PAST_INTEGER };
    await refused(suite.api, 400, () => call('POST', '/api/v1/replication/policies', { auth: admin, body }));
  });
});
