import { contextFor } from '../../src/context';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, asc, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConfiguredDatabase } from '../../src/db/connect';
import { resolveConfig } from '../../src/config/load';
import { testDatabaseUrl } from '../support/test-database';
import { firstRow } from '../../src/db/engine';
import { audit, loginThrottle, tokenGrants, users } from '../support/tables';
import { LoginThrottle } from '../../src/identity/throttle';
import { fillUsernameKeys } from '../../src/bootstrap';
import { recordGrants, pruneGrants, grantAddress } from '../../src/token/grants';
import { createPersonalToken } from '../../src/identity/personal-tokens';
import { basic } from '../support/api-client';
import { listenerSuite } from '../support/api-suite';
import { expectErrorShape, refused } from '../support/refusals';
import { CAST, CAST_PASSWORD, createUser, uniqueName } from '../support/role-matrix';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/** The login throttle: per name (canonical), per client address, in the database; and password changes as logins. */

const PW = 'throttle-password-1';

/** A token request from a chosen loopback address (127.0.0.0/8 is all local). */
function tokenFrom(w: TestWharf, from: string, creds: string): Promise<{ status: number; body: any; retryAfter: string | undefined }> {
  const url = new URL(`${w.url}/service/token?service=wharf-registry&scope=repository:x/y:pull`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, localAddress: from, headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] as string | undefined });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('limits per name and per address', () => {
  let w: TestWharf;
  beforeAll(async () => {
    w = await startTestWharf({ auth: { maxFailures: 3, maxFailuresPerAddress: 5, credentialCacheSeconds: 0 } });
    for (const username of ['una', 'vic', 'Wes'])
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } })).status).toBe(201);
  });
  afterAll(() => w?.stop());

  it('case and space variants of a local name share one count', async () => {
    for (const name of ['wes', 'WES', ' Wes']) expect((await tokenFrom(w, '127.0.0.11', `${name}:wrong`)).status, name).toBe(401);
    const locked = await tokenFrom(w, '127.0.0.12', `Wes:${PW}`);
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
  });

  it('failures across many names from one address lock that address, not the others', async () => {
    for (let i = 0; i < 5; i++) expect((await tokenFrom(w, '127.0.0.21', `sprayed-${i}:wrong`)).status).toBe(401);
    // A right password from the spraying address is refused, with the address's reason.
    const refused = await tokenFrom(w, '127.0.0.21', `una:${PW}`);
    expect(refused.status).toBe(429);
    expect(JSON.stringify(refused.body)).toContain('this address');
    // The same user from another address is not affected, nor are the sprayed names elsewhere.
    expect((await tokenFrom(w, '127.0.0.22', `una:${PW}`)).status).toBe(200);
    expect((await tokenFrom(w, '127.0.0.22', `vic:${PW}`)).status).toBe(200);
  });

  it('a right password clears its name but not the address count', async () => {
    for (let i = 0; i < 4; i++) expect((await tokenFrom(w, '127.0.0.31', `other-${i}:wrong`)).status).toBe(401);
    expect((await tokenFrom(w, '127.0.0.31', `vic:${PW}`)).status).toBe(200);
    expect((await tokenFrom(w, '127.0.0.31', 'other-9:wrong')).status).toBe(401);
    expect((await tokenFrom(w, '127.0.0.31', `vic:${PW}`)).status).toBe(429);
  });
});

describe('attempts are counted before they are checked', () => {
  it('a burst of parallel wrong passwords gets at most maxFailures answers; the rest and the right one wait', async () => {
    const w = await startTestWharf({ auth: { maxFailures: 3, credentialCacheSeconds: 0 } });
    try {
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'burst', password: PW } })).status).toBe(201);
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => tokenFrom(w, '127.0.0.41', `burst:wrong-${i}`)));
      expect(answers.filter((a) => a.status === 401)).toHaveLength(3);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(37);
      expect((await tokenFrom(w, '127.0.0.42', `burst:${PW}`)).status).toBe(429);
    } finally {
      await w.stop();
    }
  });

  it('accounts that differ only by case (made before names were unique) keep apart counts, and neither is the other', async () => {
    const w = await startTestWharf({ auth: { maxFailures: 3, credentialCacheSeconds: 0 } });
    try {
      const { db } = w.wharf.deps;
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'bob', password: PW } })).status).toBe(201);
      // An older database: a second account whose name differs only by case, without its key yet.
      await db.insert(users).values({ username: 'Bob', passwordHash: (await firstRow(db.select().from(users).where(eq(users.username, 'bob'))))!.passwordHash });
      await fillUsernameKeys(db, { warn: () => {} });
      for (let i = 0; i < 2; i++) expect((await tokenFrom(w, '127.0.0.51', `bob:wrong-${i}`)).status).toBe(401);
      // The twin's right password does not reset bob's count.
      expect((await tokenFrom(w, '127.0.0.52', `Bob:${PW}`)).status).toBe(200);
      expect((await tokenFrom(w, '127.0.0.51', 'bob:wrong-3')).status).toBe(401);
      expect((await tokenFrom(w, '127.0.0.53', `bob:${PW}`)).status).toBe(429);
      // Bob changing bob's password is someone else's change: refused without a word about the old one.
      const r = await w.api('PUT', '/api/v1/users/bob/password', { auth: `Bob:${PW}`, body: { oldPassword: PW, newPassword: 'taken-over-1' } });
      expect(r.status).toBe(403);
      expect(r.body.error.message).not.toContain('oldPassword');
    } finally {
      await w.stop();
    }
  });

  it('an old account with a name now reserved still signs in with its password', async () => {
    const w = await startTestWharf();
    try {
      const { db } = w.wharf.deps;
      const hash = (await firstRow(db.select().from(users).where(eq(users.username, 'admin'))))!.passwordHash;
      await db.insert(users).values({ username: 'System', passwordHash: hash });
      await fillUsernameKeys(db, { warn: () => {} });
      expect((await tokenFrom(w, '127.0.0.61', `System:${ADMIN_PASSWORD}`)).status).toBe(200);
    } finally {
      await w.stop();
    }
  });
});

describe('the throttle lives in the database', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-throttle-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('two instances on one database see the same lockout; dead rows are pruned', async () => {
    const config = resolveConfig({ dataDir: dir, database: { url: await testDatabaseUrl(dir) } });
    const one = await openConfiguredDatabase(config);
    const two = await openConfiguredDatabase(config);
    let now = 1_000_000;
    const clock = { now: () => now };
    const opts = { maxFailures: 3, maxFailuresPerAddress: 0, windowMs: 60_000, lockoutMs: 120_000 };
    try {
      const a = new LoginThrottle(one.db, clock, opts);
      const b = new LoginThrottle(two.db, clock, opts);
      await a.fail('Xena', '10.0.0.1');
      await b.fail('xena', '10.0.0.2');
      expect((await a.retryAfter('XENA'))).toBe(0);
      await a.fail('xena ', null);
      expect((await b.retryAfter('xena'))).toBe(120);
      for (let i = 0; i < 1000; i++) await b.fail(`name-${i}`, null);
      expect((await one.db.select().from(loginThrottle))).toHaveLength(1001);
      now += 61_000;
      // The windows of the one-failure names are over; the lockout is not.
      expect((await a.prune(400))).toBe(400);
      expect((await a.prune())).toBe(600);
      expect((await two.db.select({ key: loginThrottle.key }).from(loginThrottle))).toEqual([{ key: 'name:xena' }]);
      now += 60_000;
      expect((await b.retryAfter('xena'))).toBe(0);
      expect((await a.prune())).toBe(1);

      // Token grants (the addresses of push and pull rows) are pruned once no event can use them.
      await recordGrants(one.db, '', ['pub/made-up-1', 'pub/made-up-2'], '10.0.0.9', now, 900);
      expect((await grantAddress(two.db, '', 'pub/made-up-1', now + 1000, 900))).toBe('10.0.0.9');
      // The same grant again from the same address soon after is not written (a commit per layer
      // token otherwise); from another address it is, at once.
      await recordGrants(one.db, '', ['pub/made-up-1'], '10.0.0.9', now + 5_000, 900);
      expect((await two.db.select().from(tokenGrants)).find((g) => g.repository === 'pub/made-up-1')!.issuedAtMs).toBe(now);
      await recordGrants(one.db, '', ['pub/made-up-1'], '10.0.0.10', now + 6_000, 900);
      expect((await grantAddress(two.db, '', 'pub/made-up-1', now + 7_000, 900))).toBeNull();
      await recordGrants(one.db, '', ['pub/made-up-1'], '10.0.0.9', now, 900);
      expect((await pruneGrants(two.db, now + 900_000, 900))).toBe(0);
      expect((await pruneGrants(two.db, now + 900_000 + 60_000 + 3_600_001, 900))).toBe(2);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('a password change is a login', () => {
  let w: TestWharf;
  beforeAll(async () => {
    w = await startTestWharf({ auth: { maxFailures: 3, credentialCacheSeconds: 0 } });
    for (const username of ['yan', 'zed'])
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username, password: PW } })).status).toBe(201);
  });
  afterAll(() => w?.stop());

  const change = (auth: string, username: string, body: unknown) => w.api('PUT', `/api/v1/users/${username}/password`, { auth, body });

  it('the new password is checked before the old one, so a short one says nothing of the old', async () => {
    const r = await change(`yan:${PW}`, 'yan', { oldPassword: 'not-the-password', newPassword: 'short' });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('at least');
    expect((await w.wharf.deps.db.select().from(loginThrottle))).toEqual([]);
  });

  it('a wrong old password is audited and counts against the throttle: the third locks the name', async () => {
    // A stolen session guessing the password: the session proves nothing about the password.
    const signIn = await w.api('POST', '/api/v1/session', { body: { username: 'yan', password: PW } });
    const headers = { cookie: signIn.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': signIn.body.csrfToken as string };
    for (let i = 0; i < 3; i++) {
      const r = await w.api('PUT', '/api/v1/users/yan/password', { headers, body: { oldPassword: `wrong-${i}-password`, newPassword: 'new-password-1' } });
      expect(r.status).toBe(403);
    }
    const locked = await w.api('PUT', '/api/v1/users/yan/password', { headers, body: { oldPassword: PW, newPassword: 'new-password-1' } });
    expect(locked.status).toBe(429);
    const rows = await w.wharf.deps.db.select().from(audit).where(and(eq(audit.action, 'login_failed'), eq(audit.resource, 'yan')));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect((await w.api('GET', '/api/v1/me', { auth: `yan:${PW}` })).status).toBe(429);
    const r = await change(admin, 'yan', { newPassword: 'admin-reset-1' });
    expect(r.status).toBe(204);
  });

  it('a personal access token cannot change the password; nothing changes', async () => {
    const token = (await w.api('POST', '/api/v1/users/zed/tokens', { auth: `zed:${PW}`, body: { name: 'ci' } })).body.secret as string;
    const before = (await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'zed'))))!;
    const r = await change(`zed:${token}`, 'zed', { oldPassword: PW, newPassword: 'new-password-2' });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toContain('token');
    expect((await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'zed'))))!.passwordHash).toBe(before.passwordHash);
  });

  it('a robot cannot change a password', async () => {
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'pc' } })).status).toBe(201);
    const robot = (await w.api('POST', '/api/v1/projects/pc/robots', { auth: admin, body: { name: 'ci', permissions: ['pull'] } })).body;
    const r = await change(`${robot.name}:${robot.secret}`, 'zed', { newPassword: 'new-password-3' });
    expect(r.status).toBe(403);
  });
});

describe('last login', () => {
  it('registry logins, tokens and API sessions set lastLoginAt, at most once a minute', async () => {
    const w = await startTestWharf();
    try {
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'lou', password: PW } })).status).toBe(201);
      const lastLogin = async () => (await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'lou'))))!.lastLoginAt;
      expect((await lastLogin())).toBeNull();
      const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:x/y:pull`, {
        headers: { authorization: `Basic ${Buffer.from(`lou:${PW}`).toString('base64')}` },
      });
      expect(res.status).toBe(200);
      const first = await lastLogin();
      expect(first).not.toBeNull();
      await new Promise((r) => setTimeout(r, 20));
      expect((await w.api('POST', '/api/v1/session', { body: { username: 'lou', password: PW } })).status).toBe(200);
      expect((await lastLogin())).toBe(first);

      await w.wharf.deps.db.update(users).set({ lastLoginAt: '2020-01-01T00:00:00.000Z' }).where(eq(users.username, 'lou'));
      expect((await w.api('POST', '/api/v1/session', { body: { username: 'lou', password: PW } })).status).toBe(200);
      expect((await lastLogin())! > '2026').toBe(true);

      const token = (await w.api('POST', '/api/v1/users/lou/tokens', { auth: `lou:${PW}`, body: { name: 'ci' } })).body.secret as string;
      await w.wharf.deps.db.update(users).set({ lastLoginAt: null }).where(eq(users.username, 'lou'));
      expect((await w.api('GET', '/api/v1/me', { auth: `lou:${token}` })).status).toBe(200);
      expect((await lastLogin())).not.toBeNull();
    } finally {
      await w.stop();
    }
  });
});

describe('the lockout as /api/v1 callers meet it', () => {
  // A real socket for the audited source address; no endpoint here asks the registry.
  const suite = listenerSuite();
  const ALICE = CAST.projectAdmin;

  /** A fresh user, signed in once, then locked out by ten wrong passwords. */
  async function lockedOut(): Promise<string> {
    const name = uniqueName('throttled');
    await createUser(suite.api, name);
    expect((await suite.api.call('GET', '/api/v1/me', { auth: `${name}:${CAST_PASSWORD}` })).status).toBe(200);
    for (let i = 1; i <= 10; i++) expectErrorShape(await suite.api.call('GET', '/api/v1/me', { auth: `${name}:wrong-${i}` }), 401);
    return name;
  }

  it('after 10 failed Basic logins the 11th attempt, even with the right password, gets 429 with Retry-After', async () => {
    const NAME = uniqueName('throttled');
    await createUser(suite.api, NAME);
    expect((await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:${CAST_PASSWORD}` })).status).toBe(200);
    const firstId = (await firstRow(suite.wharf().wharf.deps.db.select({ id: audit.id }).from(audit).orderBy(desc(audit.id)).limit(1)))!.id;

    for (let i = 1; i <= 10; i++) {
      // a spoofed X-Forwarded-For must not become the audited source IP (trustProxy is off)
      const r = await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:wrong-${i}`, headers: { 'x-forwarded-for': '203.0.113.9' } });
      expectErrorShape(r, 401);
    }
    const locked = await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:${CAST_PASSWORD}` });
    expectErrorShape(locked, 429);
    const retryAfter = Number(locked.headers instanceof Headers ? locked.headers.get('retry-after') : NaN);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(suite.wharf().wharf.deps.config.auth.lockoutSeconds);

    // the lockout holds on other endpoints too, also for anonymous-capable ones
    expectErrorShape(await suite.api.call('GET', '/api/v1/projects', { auth: `${NAME}:${CAST_PASSWORD}` }), 429);

    const rows = (await suite.wharf().wharf.deps.db
      .select()
      .from(audit)
      .where(and(eq(audit.action, 'login_failed'), eq(audit.resource, NAME)))
      .orderBy(asc(audit.id))
      )
      .filter((r) => r.id > firstId);
    // Repeats from one address within a minute fold into one row that counts them.
    const failures = rows.filter((r) => r.outcome === 'failure');
    expect(failures.reduce((n, r) => n + r.count, 0)).toBe(10);
    for (const row of failures) {
      expect(row.username).toBe(NAME);
      expect(row.resourceType).toBe('user');
      expect(row.sourceIp).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
      expect(row.sourceIp).not.toBe('203.0.113.9');
      expect(JSON.stringify(row)).not.toContain('wrong-');
    }
    // the refused attempts while locked out are audited too
    expect(rows.filter((r) => r.outcome !== 'failure' && r.outcome !== 'success').length).toBeGreaterThanOrEqual(1);
  });

  it('the lockout of one name does not affect other users', async () => {
    await lockedOut();
    expect((await suite.api.call('GET', '/api/v1/me', { auth: ALICE })).status).toBe(200);
    expect((await suite.api.call('GET', '/api/v1/me', { auth: admin })).status).toBe(200);
  });

  it('the locked-out user cannot change anything either', async () => {
    const NAME = await lockedOut();
    await refused(suite.api, 429, () => suite.api.call('PATCH', `/api/v1/users/${NAME}`, { auth: `${NAME}:${CAST_PASSWORD}`, body: { email: 't@example.org' } }));
    await refused(suite.api, 429, () => suite.api.call('POST', '/api/v1/projects', { auth: `${NAME}:${CAST_PASSWORD}`, body: { name: 'throttled-proj' } }));
  });

  it("the lockout guards passwords only: anyone can lock a name out, so the name's personal access tokens keep working", async () => {
    const NAME = await lockedOut();
    const user = (await firstRow(suite.wharf().wharf.deps.db.select().from(users).where(eq(users.username, NAME))))!;
    const principal = { kind: 'user' as const, id: user.id, username: NAME, admin: false, source: 'local', via: 'password' as const };
    const { secret } = await createPersonalToken(contextFor(suite.wharf().wharf.deps, principal, { username: NAME }), NAME, { name: 'ci' });
    const me = await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:${secret}` });
    expect(me.status).toBe(200);
    expect((await fetch(`${suite.api.url}/service/token?service=wharf-registry`, { headers: { authorization: basic(`${NAME}:${secret}`) } })).status).toBe(200);
    // A token's success does not lift the password lockout, and a wrong token still meets it.
    expectErrorShape(await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:${CAST_PASSWORD}` }), 429);
    expectErrorShape(await suite.api.call('GET', '/api/v1/me', { auth: `${NAME}:wpat_${'x'.repeat(43)}` }), 429);
  });
});
