import { expect } from 'vitest';

/** Calls to Wharf's replication API that the end-to-end tests share. */

type Api = (method: string, path: string, opts?: { auth?: string; body?: unknown }) => Promise<{ status: number; body: any }>;

/** Polls an execution until it is no longer pending or running, and returns it. */
export async function waitExecutionDone(api: Api, auth: string, id: number, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/replication/executions/${id}`, { auth });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    if (!['pending', 'running'].includes(r.body.status)) return r.body;
    if (Date.now() > until) throw new Error(`execution ${id} still ${r.body.status}: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The policy's executions, newest first. */
export async function policyExecutions(api: Api, auth: string, policy: string): Promise<any[]> {
  const r = await api('GET', `/api/v1/replication/executions?policy=${encodeURIComponent(policy)}`, { auth });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.items;
}

/** Creates a policy (201 expected) and, when it replicates existing images, waits for that first run. */
export async function createPolicyAndWait(api: Api, auth: string, body: Record<string, unknown>): Promise<{ policy: any; execution: any | null }> {
  const created = await api('POST', '/api/v1/replication/policies', { auth, body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  if (body.replicateExisting === false || body.enabled === false) return { policy: created.body, execution: null };
  const [first] = await policyExecutions(api, auth, String(body.name));
  expect(first?.trigger).toBe('creation');
  return { policy: created.body, execution: await waitExecutionDone(api, auth, first.id) };
}

/** Every task of an execution (in id order), optionally of one status. */
export async function executionTasks(api: Api, auth: string, id: number, status?: string): Promise<any[]> {
  const r = await api('GET', `/api/v1/replication/executions/${id}/tasks${status ? `?status=${status}` : ''}`, { auth });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.items;
}

/** Waits until Wharf knows these tags of a repository (pushes reach its tag state through the registry's notifications, after the push returns). */
export async function waitTagsKnown(api: Api, auth: string, repository: string, tags: string[], timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/repositories/${encodeURIComponent(repository)}/tags`, { auth });
    const known = r.status === 200 ? (r.body.items as { name: string }[]).map((t) => t.name) : [];
    if (tags.every((t) => known.includes(t))) return;
    if (Date.now() > until) throw new Error(`${repository} tags ${tags.join(', ')} not known to Wharf (it knows ${known.join(', ')})`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
