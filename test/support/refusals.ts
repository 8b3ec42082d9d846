import { asc, count, notInArray } from 'drizzle-orm';
import { expect } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, members, projects, users } from './tables';
import { header, type Answer, type ApiClient } from './api-client';
import { admin } from './wharf';

/** Audit actions that a refused request may still write: it may be a login of its own. */
export const LOGIN_ACTIONS = ['login', 'login_failed', 'token_denied'];

export function expectErrorShape(r: Answer, status: number): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  expect(r.body.error.code.length).toBeGreaterThan(0);
  expect(r.body.error.message.length).toBeGreaterThan(0);
  if (status === 401) expect(header(r, 'www-authenticate')).toMatch(/^Basic realm=/);
}

/** Login bookkeeping (like the login audit rows): a refused request may still be a login. */
const withoutLastLogin = <T extends { lastLoginAt?: unknown }>(u: T) => ({ ...u, lastLoginAt: undefined });

/** Everything a request could change: the tables (read directly) and the admin's view through the API. */
export async function snapshot(api: ApiClient) {
  const d = api.deps.db;
  const tables = {
    users: (await d.select().from(users).orderBy(asc(users.id))).map(withoutLastLogin),
    projects: await d.select().from(projects).orderBy(asc(projects.id)),
    members: await d.select().from(members).orderBy(asc(members.projectId), asc(members.userId)),
    changeRows: (await firstRow(d.select({ n: count() }).from(audit).where(notInArray(audit.action, LOGIN_ACTIONS))))!.n,
  };
  const userList = await api.call('GET', '/api/v1/users?pageSize=500', { auth: admin });
  const projectList = await api.call('GET', '/api/v1/projects?pageSize=500', { auth: admin });
  expect(userList.status).toBe(200);
  expect(projectList.status).toBe(200);
  const memberLists: Record<string, unknown> = {};
  for (const p of projectList.body.items as { name: string }[]) {
    const m = await api.call('GET', `/api/v1/projects/${p.name}/members`, { auth: admin });
    expect(m.status).toBe(200);
    memberLists[p.name] = m.body;
  }
  const userDetails: Record<string, unknown> = {};
  for (const u of userList.body.items as { username: string }[]) {
    const one = await api.call('GET', `/api/v1/users/${encodeURIComponent(u.username)}`, { auth: admin });
    userDetails[u.username] = withoutLastLogin(one.body);
  }
  const usersSeen = { ...userList.body, items: userList.body.items.map(withoutLastLogin) };
  return { tables, api: { users: usersSeen, projects: projectList.body, memberLists, userDetails } };
}

/** Runs a request that must be refused with `status` and must change nothing. */
export async function refused(api: ApiClient, status: number, request: () => Promise<Answer>): Promise<Answer> {
  const before = await snapshot(api);
  const r = await request();
  expectErrorShape(r, status);
  const after = await snapshot(api);
  expect(after).toEqual(before);
  return r;
}

/** Like `refused`, for answers where several statuses are acceptable (never 2xx, never 5xx). */
export async function refusedAny(api: ApiClient, statuses: number[], request: () => Promise<Answer>): Promise<Answer> {
  const before = await snapshot(api);
  const r = await request();
  expect(statuses, `got ${r.status}: ${JSON.stringify(r.body)}`).toContain(r.status);
  expect(r.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  const after = await snapshot(api);
  expect(after).toEqual(before);
  return r;
}
