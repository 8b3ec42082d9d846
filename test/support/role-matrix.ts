import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Answer, ApiClient } from './api-client';
import { refused } from './refusals';
import { admin } from './wharf';

export const CAST_PASSWORD = 'test-password-1';

/** Who may ask: nobody, a robot of the project, a user outside it, each member role, a system admin. */
export type Role = 'anonymous' | 'robot' | 'outsider' | 'guest' | 'developer' | 'projectAdmin' | 'admin';
export const ROLES: readonly Role[] = ['anonymous', 'robot', 'outsider', 'guest', 'developer', 'projectAdmin', 'admin'];

/** The users who play the member roles in every project of a file ("name:password"); no test changes them. */
export interface Cast {
  projectAdmin: string;
  developer: string;
  guest: string;
  outsider: string;
}

export type CastNames = { [K in keyof Cast]: string };

const CAST_NAMES: { [K in keyof Cast]: string } = { projectAdmin: 'alice', developer: 'dev1', guest: 'guest1', outsider: 'outsider' };

/** The cast's credentials; `createCast` makes these users in a file's instance. */
export const CAST: Cast = {
  projectAdmin: `${CAST_NAMES.projectAdmin}:${CAST_PASSWORD}`,
  developer: `${CAST_NAMES.developer}:${CAST_PASSWORD}`,
  guest: `${CAST_NAMES.guest}:${CAST_PASSWORD}`,
  outsider: `${CAST_NAMES.outsider}:${CAST_PASSWORD}`,
};

export const nameOf = (credentials: string): string => credentials.slice(0, credentials.indexOf(':'));

/** A name no other test of the file uses, so tests sharing one instance never meet each other's rows. */
export const uniqueName = (base: string): string => `${base}-${randomBytes(3).toString('hex')}`;

export async function createUser(api: ApiClient, username: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const r = await api.call('POST', '/api/v1/users', { auth: admin, body: { username, password: CAST_PASSWORD, ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r;
}

export async function createCast(api: ApiClient): Promise<void> {
  for (const username of Object.values(CAST_NAMES)) await createUser(api, username);
}

export interface RoleProject {
  name: string;
  /** Basic credentials of each role in this project; undefined for anonymous. */
  auth: Record<Role, string | undefined>;
}

/** A project created by the cast's projectAdmin, its developer and guest added, and a robot with every permission. */
export async function arrangeProject(api: ApiClient, name: string, opts: { public?: boolean } = {}): Promise<RoleProject> {
  const cast = CAST;
  const made = await api.call('POST', '/api/v1/projects', { auth: cast.projectAdmin, body: { name, public: opts.public ?? false } });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  for (const [who, role] of [
    [cast.developer, 'developer'],
    [cast.guest, 'guest'],
  ] as const) {
    const r = await api.call('PUT', `/api/v1/projects/${name}/members/${nameOf(who)}`, { auth: cast.projectAdmin, body: { role } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  const robot = await api.call('POST', `/api/v1/projects/${name}/robots`, { auth: cast.projectAdmin, body: { name: 'matrix', permissions: ['pull', 'push', 'delete'] } });
  expect(robot.status, JSON.stringify(robot.body)).toBe(201);
  return {
    name,
    auth: {
      anonymous: undefined,
      robot: `${robot.body.name}:${robot.body.secret}`,
      outsider: cast.outsider,
      guest: cast.guest,
      developer: cast.developer,
      projectAdmin: cast.projectAdmin,
      admin,
    },
  };
}

/**
 * Asks `request` once per role named in `answers`: a refusal (4xx) must pass `refused()` (the error
 * shape, nothing changed), any other status must be answered as given.
 */
export async function expectRoles(
  api: ApiClient,
  project: RoleProject,
  answers: Partial<Record<Role, number>>,
  request: (auth: string | undefined, role: Role) => Promise<Answer>,
): Promise<void> {
  for (const role of ROLES) {
    const status = answers[role];
    if (status === undefined) continue;
    const auth = project.auth[role];
    if (status < 400) {
      expect((await request(auth, role)).status, `${role} in ${project.name}`).toBe(status);
      continue;
    }
    try {
      await refused(api, status, () => request(auth, role));
    } catch (err) {
      (err as Error).message = `${role} in ${project.name}: ${(err as Error).message}`;
      throw err;
    }
  }
}
