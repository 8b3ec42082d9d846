import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { findProject, projectAndRole, roleIn } from '../../src/access/projects';
import { repositoryActions } from '../../src/access/resolve';
import { allowedActions, ROLES } from '../../src/access/roles';
import { preparedPerConnection } from '../../src/db/prepared';
import type { OpenDb } from '../../src/db/open';
import { isolated, transaction } from '../../src/db/transaction';
import { groupMembers, loginThrottle, members, projects, userGroups, users } from '../support/tables';
import type { Principal } from '../../src/identity/principal';
import { findUser, findUserById } from '../../src/identity/users';
import { userWithLocks } from '../../src/identity/store';
import { onPostgres, openTestDatabase } from '../support/test-database';

/**
 * The hot lookups run prepared statements cached per connection (src/db/prepared.ts): they must
 * answer exactly like the ad-hoc queries did, per database, inside transactions too.
 */

const opened: OpenDb[] = [];
const open = async () => {
  const d = await openTestDatabase();
  opened.push(d);
  return d;
};

afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
});

const principalOf = (id: number, username: string, admin = false): Principal => ({ kind: 'user', id, username, admin, source: 'local', via: 'password' });

describe('prepared lookups', () => {
  it('answer from the database they are given, with typed columns', async () => {
    const one = await open();
    const two = await open();
    await one.db.insert(users).values({ username: 'alice', admin: true });
    await two.db.insert(users).values({ username: 'bob', disabled: true });
    await two.db.insert(users).values({ username: 'alice' });

    const a1 = (await findUser(one.db, 'alice'))!;
    expect(a1).toMatchObject({ id: 1, username: 'alice', admin: true, disabled: false, source: 'local', credentialVersion: 1 });
    expect((await findUser(one.db, 'bob'))).toBeUndefined();
    expect((await findUser(two.db, 'bob'))).toMatchObject({ id: 1, disabled: true, admin: false });
    expect((await findUser(two.db, 'alice'))!.id).toBe(2);
    expect((await findUserById(one.db, 1))!.username).toBe('alice');
    expect((await findUserById(two.db, 1))!.username).toBe('bob');
    expect((await findUserById(one.db, 2))).toBeUndefined();
  });

  it('findProject and roleIn', async () => {
    const { db } = await open();
    const u = (await firstRow(db.insert(users).values({ username: 'carol' }).returning()))!;
    const p = (await firstRow(db.insert(projects).values({ name: 'team', public: true }).returning()))!;
    await db.insert(projects).values({ name: 'other' });
    await db.insert(members).values({ projectId: p.id, userId: u.id, role: 'guest' });
    expect((await findProject(db, 'team'))).toMatchObject({ id: p.id, name: 'team', public: true });
    expect((await findProject(db, 'other'))!.public).toBe(false);
    expect((await findProject(db, 'nope'))).toBeUndefined();
    const carol = principalOf(u.id, 'carol');
    expect((await roleIn(db, carol, p.id))).toBe('guest');
    expect((await roleIn(db, carol, (await findProject(db, 'other'))!.id))).toBeNull();
    expect((await roleIn(db, principalOf(999, 'ghost'), p.id))).toBeNull();
    expect((await roleIn(db, { kind: 'anonymous', username: 'anonymous', admin: false }, p.id))).toBeNull();
  });

  it('projectAndRole reads the project with the highest of own and group roles, as findProject and roleIn do', async () => {
    const { db } = await open();
    const id = async (username: string) => (await firstRow(db.insert(users).values({ username }).returning()))!.id;
    const [solo, grouped, both, none] = [await id('solo'), await id('grouped'), await id('both'), await id('none')];
    const p = (await firstRow(db.insert(projects).values({ name: 'team' }).returning()))!;
    const other = (await firstRow(db.insert(projects).values({ name: 'other' }).returning()))!;
    await db.insert(members).values([
      { projectId: p.id, userId: solo, role: 'developer' },
      { projectId: p.id, userId: both, role: 'guest' },
    ]);
    await db.insert(groupMembers).values([
      { projectId: p.id, groupName: 'readers', role: 'guest' },
      { projectId: p.id, groupName: 'admins', role: 'projectAdmin' },
      { projectId: other.id, groupName: 'outsiders', role: 'projectAdmin' },
    ]);
    await db.insert(userGroups).values([
      { userId: grouped, groupName: 'readers' },
      { userId: grouped, groupName: 'outsiders' },
      { userId: both, groupName: 'readers' },
      { userId: both, groupName: 'admins' },
      { userId: none, groupName: 'outsiders' },
    ]);
    const expected = { solo: 'developer', grouped: 'guest', both: 'projectAdmin', none: null };
    for (const [username, userId] of Object.entries({ solo, grouped, both, none })) {
      const principal = principalOf(userId, username);
      expect(await roleIn(db, principal, p.id), username).toBe(expected[username as keyof typeof expected]);
      expect(await projectAndRole(db, principal, 'team'), username).toEqual({ project: await findProject(db, 'team'), role: await roleIn(db, principal, p.id) });
    }
    expect(await projectAndRole(db, principalOf(grouped, 'grouped'), 'other')).toEqual({ project: await findProject(db, 'other'), role: 'projectAdmin' });
    expect(await projectAndRole(db, principalOf(solo, 'solo'), 'missing')).toBeUndefined();
    expect(await projectAndRole(db, { kind: 'anonymous', username: 'anonymous', admin: false }, 'team')).toEqual({ project: await findProject(db, 'team'), role: null });
  });

  it('userWithLocks finds the account as findUser does, with the lock times of the keys asked for', async () => {
    const { db } = await open();
    // An older twin: its key is not its name's (names were not unique case-insensitively then).
    await db.insert(users).values([
      { username: 'Dana', usernameKey: 'dana' },
      { username: 'DANA', usernameKey: 'dana#2' },
    ]);
    await db.insert(loginThrottle).values([
      { key: 'name:dana', failures: 0, windowStart: 1, lockedUntil: 5000, expiresAt: 5000 },
      { key: 'addr:10.0.0.0', failures: 2, windowStart: 1, lockedUntil: 0, expiresAt: 5000 },
    ]);
    const locks = { nameKey: 'name:dana', addressKey: 'addr:10.0.0.0' };
    for (const name of ['Dana', 'DANA', 'dana', 'dAnA']) {
      const found = await userWithLocks(db, name, name.toLowerCase(), locks);
      expect(found?.user, name).toEqual(await findUser(db, name));
      expect(found, name).toMatchObject({ nameLockedUntil: 5000, addressLockedUntil: 0 });
    }
    expect(await userWithLocks(db, 'nobody', 'nobody', locks)).toBeUndefined();
    expect(await userWithLocks(db, 'Dana', 'dana', { nameKey: 'name:other', addressKey: null })).toMatchObject({ nameLockedUntil: null, addressLockedUntil: null });
  });

  it('repositoryActions, built on them, answers per role, project and visibility', async () => {
    const { db } = await open();
    const userIds: Record<string, number> = {};
    for (const name of ['admin', 'outsider', ...ROLES])
      userIds[name] = (await firstRow(db.insert(users).values({ username: name, admin: name === 'admin' }).returning()))!.id;
    for (const [name, isPublic] of [['pub', true], ['priv', false]] as const) {
      const p = (await firstRow(db.insert(projects).values({ name, public: isPublic }).returning()))!;
      for (const role of ROLES) await db.insert(members).values({ projectId: p.id, userId: userIds[role]!, role });
    }
    const principals: Principal[] = [
      ...Object.entries(userIds).map(([name, id]) => principalOf(id, name, name === 'admin')),
      principalOf(999, 'ghost'),
      { kind: 'anonymous', username: 'anonymous', admin: false },
    ];
    let compared = 0;
    for (const principal of principals)
      for (const projectName of ['pub', 'priv', 'missing']) {
        const project = await findProject(db, projectName);
        const expected = allowedActions({
          admin: principal.admin,
          role: project ? await roleIn(db, principal, project.id) : null,
          projectPublic: project?.public ?? false,
          projectExists: !!project,
        });
        expect((await repositoryActions(db, principal, `${projectName}/app`, 'library')), `${principal.username} on ${projectName}`).toEqual(expected);
        compared++;
      }
    expect(compared).toBe(21);
    // a guest of a private project pulls, an outsider gets nothing, a developer pushes
    expect((await repositoryActions(db, principals.find((p) => p.username === 'guest')!, 'priv/app', 'library'))).toEqual(['pull']);
    expect((await repositoryActions(db, principals.find((p) => p.username === 'outsider')!, 'priv/app', 'library'))).toEqual([]);
    expect((await repositoryActions(db, principals.find((p) => p.username === 'developer')!, 'priv/app', 'library'))).toContain('push');
  });

  it('see the uncommitted writes of a transaction, and nothing after a rollback', async () => {
    const { db } = await open();
    await db.insert(users).values({ username: 'dave' });
    await expect(
      transaction(db, async (tx) => {
        await tx.insert(users).values({ username: 'erin' });
        expect(await findUser(tx, 'erin')).toBeDefined();
        await isolated(tx, async (nested) => {
          await nested.insert(projects).values({ name: 'inner' });
          expect(await findProject(nested, 'inner')).toBeDefined();
        });
        expect(await findProject(tx, 'inner')).toBeDefined();
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await findUser(db, 'erin')).toBeUndefined();
    expect(await findProject(db, 'inner')).toBeUndefined();
    expect(await findUser(db, 'dave')).toBeDefined();
  });

  // SQLite's one connection: statements from outside wait for the transaction holding it.
  it.skipIf(onPostgres)('a statement from outside an open transaction waits for it, and never lands inside it', async () => {
    const { db } = await open();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const inside = transaction(db, async (tx) => {
      await tx.insert(users).values({ username: 'inside' });
      await held; // the transaction waits on something else while it holds the connection
      order.push('inside done');
      throw new Error('roll back');
    });
    const outside = (async () => {
      await db.insert(users).values({ username: 'outside' });
      order.push('outside written');
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual([]);
    release();
    await expect(inside).rejects.toThrow('roll back');
    await outside;
    expect(order).toEqual(['inside done', 'outside written']);
    // The rollback took the transaction's own row only: the outside write waited and committed alone.
    expect(await findUser(db, 'inside')).toBeUndefined();
    expect(await findUser(db, 'outside')).toBeDefined();
  });

  it.runIf(onPostgres)('a statement from outside an open transaction runs on another pooled connection, and never lands inside it', async () => {
    const { db } = await open();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const inside = transaction(db, async (tx) => {
      await tx.insert(users).values({ username: 'inside' });
      await held;
      throw new Error('roll back');
    });
    await db.insert(users).values({ username: 'outside' });
    expect(await findUser(db, 'inside')).toBeUndefined();
    release();
    await expect(inside).rejects.toThrow('roll back');
    expect(await findUser(db, 'inside')).toBeUndefined();
    expect(await findUser(db, 'outside')).toBeDefined();
  });

  it('a savepoint that fails undoes its own writes and leaves the transaction going', async () => {
    const { db } = await open();
    await transaction(db, async (tx) => {
      await tx.insert(users).values({ username: 'kept' });
      await expect(
        isolated(tx, async (nested) => {
          await nested.insert(users).values({ username: 'undone' });
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
      expect(await findUser(tx, 'undone')).toBeUndefined();
    });
    expect(await findUser(db, 'kept')).toBeDefined();
    expect(await findUser(db, 'undone')).toBeUndefined();
  });

  // On PostgreSQL a transaction runs on a pooled connection of its own, and node-postgres keeps the
  // named statements per connection: the test below counts those.
  it.skipIf(onPostgres)('prepare once per connection, shared by the db and its transactions', async () => {
    const { db } = await open();
    const other = (await open()).db;
    let prepared = 0;
    const statement = preparedPerConnection('test_all_users', (d) => {
      prepared++;
      return d.select().from(users);
    });
    statement(db);
    statement(db);
    expect(prepared).toBe(1);
    // A transaction's work runs on the same connection through its own handle: prepared once for it.
    await transaction(db, async (tx) => {
      statement(tx);
      await isolated(tx, async (nested) => {
        statement(nested);
      });
    });
    await transaction(db, async (tx) => {
      statement(tx);
    });
    expect(prepared).toBe(2);
    statement(other);
    expect(prepared).toBe(3);
  });

  it.runIf(onPostgres)('prepare once per pooled connection, shared by the transactions that run on it', async () => {
    const { db } = await open();
    let prepared = 0;
    const statement = preparedPerConnection('test_all_users_pg', (d) => {
      prepared++;
      return d.select().from(users);
    });
    statement(db);
    expect(prepared).toBe(1);
    // One after another, the transactions get the pool's one idle connection back each time.
    for (let i = 0; i < 3; i++)
      await transaction(db, async (tx) => {
        await statement(tx).all();
        await isolated(tx, async (nested) => {
          await statement(nested).all();
        });
      });
    expect(prepared).toBe(2);
  });

  it.runIf(onPostgres)('every transaction holds the transaction lock until it ends, and a failed one is rolled back', async () => {
    const { db } = await open();
    const advisoryLocks = async (d: typeof db, whose: 'mine' | 'anyone') => {
      const rows = await (d as unknown as { execute(q: unknown): Promise<{ rows: { n: number }[] }> }).execute(
        sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and granted
            and database = (select oid from pg_database where datname = current_database())
            and (${whose} = 'anyone' or pid = pg_backend_pid())`,
      );
      return rows.rows[0]!.n;
    };
    expect(await transaction(db, (tx) => advisoryLocks(tx, 'mine'))).toBe(1);
    await expect(
      transaction(db, async (tx) => {
        await tx.insert(users).values({ username: 'undone' });
        throw new Error('fails');
      }),
    ).rejects.toThrow('fails');
    expect(await findUser(db, 'undone')).toBeUndefined();
    expect(await advisoryLocks(db, 'anyone')).toBe(0);
  });
});
