import { expect } from 'vitest';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const nullOrString = () => expect.toSatisfy((v: unknown) => v === null || typeof v === 'string');

const userShape = {
  username: expect.any(String),
  email: nullOrString(),
  admin: expect.any(Boolean),
  disabled: expect.any(Boolean),
  source: expect.stringMatching(/^(local|ldap|htpasswd)$/),
  createdAt: expect.stringMatching(TIME),
  updatedAt: expect.stringMatching(TIME),
  lastLoginAt: nullOrString(),
};

/** A user as API.md shows it: exactly these fields, no hash. */
export function expectUser(body: any, fields: Record<string, unknown> = {}) {
  expect(Object.keys(body).sort()).toEqual(Object.keys(userShape).sort());
  expect(body).toEqual({ ...userShape, ...fields });
}

const projectShape = {
  name: expect.any(String),
  public: expect.any(Boolean),
  createdBy: nullOrString(),
  createdAt: expect.stringMatching(TIME),
  updatedAt: expect.stringMatching(TIME),
};

/** A project as API.md shows it, with the caller's role and the repository count where given. */
export function expectProject(body: any, fields: Record<string, unknown> = {}) {
  expect(body).toMatchObject({ ...projectShape, ...fields });
  for (const k of Object.keys(body)) expect([...Object.keys(projectShape), 'role', 'repositoryCount']).toContain(k);
}
