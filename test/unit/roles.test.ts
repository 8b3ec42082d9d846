import { describe, expect, it } from 'vitest';
import {
  allowedActions,
  canManageProject,
  canSeeProject,
  highestRole,
  isValidProjectName,
  isValidRepositoryName,
  PROJECT_NAME_MAX,
  projectOf,
  REPOSITORY_NAME_MAX,
  ROLES,
  type Role,
} from '../../src/access/roles';

/** The role matrix of API.md ("Roles"): the product's core rule, spelled out cell by cell. */

type Subject = 'admin' | Role | 'none';
const ALL = ['pull', 'push', 'delete'];

// [subject, public, exists] → actions. Written out, not computed, so a change to roles.ts must
// change this table on purpose.
const MATRIX: [Subject, boolean, boolean, string[]][] = [
  ['admin', false, true, ALL],
  ['admin', true, true, ALL],
  ['admin', false, false, ALL],
  ['admin', true, false, ALL],
  ['projectAdmin', false, true, ALL],
  ['projectAdmin', true, true, ALL],
  ['projectAdmin', false, false, []],
  ['projectAdmin', true, false, []],
  ['developer', false, true, ALL],
  ['developer', true, true, ALL],
  ['developer', false, false, []],
  ['developer', true, false, []],
  ['guest', false, true, ['pull']],
  ['guest', true, true, ['pull']],
  ['guest', false, false, []],
  ['guest', true, false, []],
  ['none', false, true, []],
  ['none', true, true, ['pull']],
  ['none', false, false, []],
  ['none', true, false, []],
];

describe('allowedActions', () => {
  it.each(MATRIX)('%s, public=%s, exists=%s → %j', (subject, projectPublic, projectExists, expected) => {
    const actions = allowedActions({
      admin: subject === 'admin',
      role: subject === 'admin' || subject === 'none' ? null : subject,
      projectPublic,
      projectExists,
    });
    expect(actions).toEqual(expected);
  });

  it('covers every role in the matrix', () => {
    for (const role of ROLES) expect(MATRIX.filter(([s]) => s === role)).toHaveLength(4);
    expect(ROLES).toEqual(['projectAdmin', 'developer', 'guest']);
  });

  it('gives an admin everything whatever role the admin also holds', () => {
    for (const role of [...ROLES, null])
      expect(allowedActions({ admin: true, role, projectPublic: false, projectExists: true })).toEqual(ALL);
  });

  it('returns a fresh array each time (callers may mutate it)', () => {
    const facts = { admin: true, role: null, projectPublic: false, projectExists: true };
    const a = allowedActions(facts);
    a.pop();
    expect(allowedActions(facts)).toEqual(ALL);
  });

  it('returns actions in the canonical order pull, push, delete', () => {
    expect(allowedActions({ admin: false, role: 'developer', projectPublic: true, projectExists: true })).toEqual(['pull', 'push', 'delete']);
  });
});

describe('highestRole', () => {
  it.each<[(Role | null | undefined)[], Role | null]>([
    [[], null],
    [[null, undefined], null],
    [['guest'], 'guest'],
    [['guest', 'developer'], 'developer'],
    [['developer', 'guest'], 'developer'],
    [['guest', 'projectAdmin', 'developer'], 'projectAdmin'],
    [[null, 'guest', undefined], 'guest'],
    [['developer', 'developer'], 'developer'],
  ])('%j → %s', (roles, expected) => {
    expect(highestRole(roles)).toBe(expected);
  });

  it('accepts any iterable', () => {
    expect(highestRole(new Set<Role>(['guest', 'projectAdmin']))).toBe('projectAdmin');
  });
});

describe('canManageProject / canSeeProject', () => {
  it('lets only admins and project admins manage', () => {
    expect(canManageProject(true, null)).toBe(true);
    expect(canManageProject(false, 'projectAdmin')).toBe(true);
    expect(canManageProject(false, 'developer')).toBe(false);
    expect(canManageProject(false, 'guest')).toBe(false);
    expect(canManageProject(false, null)).toBe(false);
  });

  it('shows private projects only to admins and members', () => {
    expect(canSeeProject(true, null, false)).toBe(true);
    expect(canSeeProject(false, 'guest', false)).toBe(true);
    expect(canSeeProject(false, null, false)).toBe(false);
    expect(canSeeProject(false, null, true)).toBe(true);
  });
});

describe('projectOf', () => {
  it.each([
    ['a/b/c', 'a'],
    ['team/app', 'team'],
    ['myapp', 'library'],
    ['my.app', 'library'],
    ['team.x/app', 'team.x'],
  ])('%s → %s', (repository, project) => {
    expect(projectOf(repository, 'library')).toBe(project);
  });

  it('uses the configured default project', () => {
    expect(projectOf('myapp', 'shared')).toBe('shared');
    expect(projectOf('team/app', 'shared')).toBe('team');
  });
});

describe('isValidProjectName', () => {
  it.each(['a', 'team', 'team1', '0', 'a.b', 'a_b', 'a__b', 'a-b', 'a--b', 'a.b-c_d', 'x'.repeat(PROJECT_NAME_MAX)])('accepts %s', (name) => {
    expect(isValidProjectName(name)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['uppercase', 'Team'],
    ['all uppercase', 'TEAM'],
    ['leading dot', '.team'],
    ['trailing dot', 'team.'],
    ['leading dash', '-team'],
    ['trailing dash', 'team-'],
    ['leading underscore', '_team'],
    ['trailing underscore', 'team_'],
    ['double dot', 'a..b'],
    ['dot dash', 'a.-b'],
    ['triple underscore', 'a___b'],
    ['a slash', 'team/app'],
    ['a colon', 'team:1'],
    ['a space', 'my team'],
    ['unicode', 'tëam'],
    ['a newline', 'team\n'],
    ['..', '..'],
    ['129 chars', 'x'.repeat(PROJECT_NAME_MAX + 1)],
  ])('rejects %s', (_label, name) => {
    expect(isValidProjectName(name)).toBe(false);
  });

  it('has a 128-character maximum', () => {
    expect(PROJECT_NAME_MAX).toBe(128);
  });
});

describe('isValidRepositoryName', () => {
  it.each(['myapp', 'team/app', 'a/b/c', 'team/a.b', 'team/a_b', 'team/a__b', 'team/a-b', 'team/a---b', `t/${'x'.repeat(REPOSITORY_NAME_MAX - 2)}`])(
    'accepts %s',
    (name) => {
      expect(isValidRepositoryName(name)).toBe(true);
    },
  );

  it.each([
    ['empty', ''],
    ['uppercase component', 'team/App'],
    ['uppercase project', 'Team/app'],
    ['leading slash', '/team/app'],
    ['trailing slash', 'team/app/'],
    ['double slash', 'team//app'],
    ['dot-dot component', 'team/../app'],
    ['double dot', 'team/a..b'],
    ['leading separator', 'team/.app'],
    ['trailing separator', 'team/app-'],
    ['triple underscore', 'team/a___b'],
    ['a tag', 'team/app:1'],
    ['a host with port', 'localhost:5000/team/app'],
    ['a space', 'team/my app'],
    ['unicode', 'team/äpp'],
    ['256 chars', `t/${'x'.repeat(REPOSITORY_NAME_MAX - 1)}`],
  ])('rejects %s', (_label, name) => {
    expect(isValidRepositoryName(name)).toBe(false);
  });

  it('has a 255-character maximum', () => {
    expect(REPOSITORY_NAME_MAX).toBe(255);
    expect(`t/${'x'.repeat(REPOSITORY_NAME_MAX - 1)}`).toHaveLength(256);
  });
});
