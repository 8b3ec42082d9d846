import { afterEach, describe, expect, it } from 'vitest';
import { findProject, roleIn } from '../../src/access/projects';
import { repositoryActions } from '../../src/access/resolve';
import { allowedActions, ROLES } from '../../src/access/roles';
import { preparedPerConnection } from '../../src/db/prepared';
import { openDatabase, type OpenDb } from '../../src/db/open';
import { members, projects, users } from '../../src/db/schema';
import type { Principal } from '../../src/identity/principal';
import { findUser, findUserById } from '../../src/identity/users';

/**
 * The hot lookups run prepared statements cached per connection (src/db/prepared.ts): they must
 * answer exactly like the ad-hoc queries did, per database, inside transactions too.
 */

const opened: OpenDb[] = [];
const open = () => {
  const d = openDatabase(':memory:');
  opened.push(d);
  return d;
};

afterEach(() => {
  for (const d of opened.splice(0)) d.close();
});

const principalOf = (id: number, username: string, admin = false): Principal => ({ kind: 'user', id, username, admin, source: 'local', via: 'password' });

describe('prepared lookups', () => {
  it('answer from the database they are given, with typed columns', () => {
    const one = open();
    const two = open();
    one.db.insert(users).values({ username: 'alice', admin: true }).run();
    two.db.insert(users).values({ username: 'bob', disabled: true }).run();
    two.db.insert(users).values({ username: 'alice' }).run();

    const a1 = findUser(one.db, 'alice')!;
    expect(a1).toMatchObject({ id: 1, username: 'alice', admin: true, disabled: false, source: 'local', credentialVersion: 1 });
    expect(findUser(one.db, 'bob')).toBeUndefined();
    expect(findUser(two.db, 'bob')).toMatchObject({ id: 1, disabled: true, admin: false });
    expect(findUser(two.db, 'alice')!.id).toBe(2);
    expect(findUserById(one.db, 1)!.username).toBe('alice');
    expect(findUserById(two.db, 1)!.username).toBe('bob');
    expect(findUserById(one.db, 2)).toBeUndefined();
  });

  it('findProject and roleIn', () => {
    const { db } = open();
    const u = db.insert(users).values({ username: 'carol' }).returning().get();
    const p = db.insert(projects).values({ name: 'team', public: true }).returning().get();
    db.insert(projects).values({ name: 'other' }).run();
    db.insert(members).values({ projectId: p.id, userId: u.id, role: 'guest' }).run();
    expect(findProject(db, 'team')).toMatchObject({ id: p.id, name: 'team', public: true });
    expect(findProject(db, 'other')!.public).toBe(false);
    expect(findProject(db, 'nope')).toBeUndefined();
    const carol = principalOf(u.id, 'carol');
    expect(roleIn(db, carol, p.id)).toBe('guest');
    expect(roleIn(db, carol, findProject(db, 'other')!.id)).toBeNull();
    expect(roleIn(db, principalOf(999, 'ghost'), p.id)).toBeNull();
    expect(roleIn(db, { kind: 'anonymous', username: 'anonymous', admin: false }, p.id)).toBeNull();
  });

  it('repositoryActions, built on them, answers per role, project and visibility', () => {
    const { db } = open();
    const userIds: Record<string, number> = {};
    for (const name of ['admin', 'outsider', ...ROLES])
      userIds[name] = db.insert(users).values({ username: name, admin: name === 'admin' }).returning().get().id;
    for (const [name, isPublic] of [['pub', true], ['priv', false]] as const) {
      const p = db.insert(projects).values({ name, public: isPublic }).returning().get();
      for (const role of ROLES) db.insert(members).values({ projectId: p.id, userId: userIds[role]!, role }).run();
    }
    const principals: Principal[] = [
      ...Object.entries(userIds).map(([name, id]) => principalOf(id, name, name === 'admin')),
      principalOf(999, 'ghost'),
      { kind: 'anonymous', username: 'anonymous', admin: false },
    ];
    let compared = 0;
    for (const principal of principals)
      for (const projectName of ['pub', 'priv', 'missing']) {
        const project = findProject(db, projectName);
        const expected = allowedActions({
          admin: principal.admin,
          role: project ? roleIn(db, principal, project.id) : null,
          projectPublic: project?.public ?? false,
          projectExists: !!project,
        });
        expect(repositoryActions(db, principal, `${projectName}/app`, 'library'), `${principal.username} on ${projectName}`).toEqual(expected);
        compared++;
      }
    expect(compared).toBe(21);
    // a guest of a private project pulls, an outsider gets nothing, a developer pushes
    expect(repositoryActions(db, principals.find((p) => p.username === 'guest')!, 'priv/app', 'library')).toEqual(['pull']);
    expect(repositoryActions(db, principals.find((p) => p.username === 'outsider')!, 'priv/app', 'library')).toEqual([]);
    expect(repositoryActions(db, principals.find((p) => p.username === 'developer')!, 'priv/app', 'library')).toContain('push');
  });

  it('see the uncommitted writes of a transaction, and nothing after a rollback', () => {
    const { db } = open();
    db.insert(users).values({ username: 'dave' }).run();
    expect(() =>
      db.transaction((tx) => {
        tx.insert(users).values({ username: 'erin' }).run();
        expect(findUser(tx, 'erin')).toBeDefined();
        expect(findUser(db, 'erin')).toBeDefined(); // same connection
        tx.transaction((nested) => {
          nested.insert(projects).values({ name: 'inner' }).run();
          expect(findProject(nested, 'inner')).toBeDefined();
        });
        expect(findProject(tx, 'inner')).toBeDefined();
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(findUser(db, 'erin')).toBeUndefined();
    expect(findProject(db, 'inner')).toBeUndefined();
    expect(findUser(db, 'dave')).toBeDefined();
  });

  it('prepare once per connection, shared by the db and its transactions', () => {
    const { db } = open();
    const other = open().db;
    let prepared = 0;
    const statement = preparedPerConnection((d) => {
      prepared++;
      return d.select().from(users).prepare();
    });
    statement(db);
    statement(db);
    db.transaction((tx) => {
      statement(tx);
      tx.transaction((nested) => statement(nested));
    });
    expect(prepared).toBe(1);
    statement(other);
    expect(prepared).toBe(2);
  });
});
