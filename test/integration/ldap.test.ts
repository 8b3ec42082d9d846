import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { userGroups, users } from '../support/tables';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { freePort } from '../support/ports';
import { startSlapd, type Slapd } from '../support/slapd';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Sign-in against a real OpenLDAP, group roles, refresh, outages and TLS. */

let work: string;
let image: BuiltImage;
let ldap: Slapd;

const USERS = [
  { uid: 'alice', password: 'alice-pass-1', mail: 'alice@example.org' },
  { uid: 'bob', password: 'bob-pass-1', mail: 'bob@example.org' },
  { uid: 'carol', password: 'carol-pass-1' },
  { uid: 'dave', password: 'dave-directory-1' },
  { uid: 'erin', password: 'erin-pass-1' },
  // A directory account whose name the audit log reserves for non-users: it can never sign in.
  { uid: 'system', password: 'system-pass-1' },
];

function ldapConfig(over: Record<string, unknown> = {}) {
  return {
    url: ldap.url,
    bindDN: ldap.readerDN,
    bindPassword: ldap.readerPassword,
    baseDN: ldap.peopleDN,
    groupBaseDN: ldap.groupsDN,
    adminGroup: ldap.groupDN('registry-admins'),
    timeoutMs: 2000,
    ...over,
  };
}

const tokenFor = async (w: TestWharf, creds: string | undefined, scope: string) => {
  const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=${encodeURIComponent(scope)}`, {
    headers: creds ? { authorization: `Basic ${Buffer.from(creds).toString('base64')}` } : {},
  });
  const body = (await res.json().catch(() => null)) as any;
  return { status: res.status, body, access: body?.token ? (decodeJwt(body.token).access as unknown[]) : null };
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-ldap-'));
  [ldap, image] = await Promise.all([
    startSlapd({
      users: USERS,
      groups: [
        { cn: 'devs', members: ['alice'] },
        { cn: 'viewers', members: ['bob', 'alice'] },
        { cn: 'registry-admins', members: ['carol'] },
      ],
      tls: true,
    }),
    buildImage(path.join(work, 'img')),
  ]);
});

afterAll(async () => {
  await ldap?.dispose();
  await rm(work, { recursive: true, force: true });
});

describe('directory users, groups and roles', () => {
  let w: TestWharf;
  beforeAll(async () => {
    // Short windows so the test can watch a group change take effect.
    w = await startTestWharf({ ldap: ldapConfig({ groupRefreshSeconds: 1 }), auth: { credentialCacheSeconds: 1 } });
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
    expect((await w.api('PUT', '/api/v1/projects/team/groups/devs', { auth: admin, body: { role: 'developer' } })).status).toBe(200);
    expect((await w.api('PUT', '/api/v1/projects/team/groups/viewers', { auth: admin, body: { role: 'guest' } })).status).toBe(200);
    const seeded = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/base:1`, { destCreds: admin });
    expect(seeded.code, seeded.stderr).toBe(0);
  });
  afterAll(() => w?.stop());

  it('an LDAP user whose group is developer pushes through skopeo; the account is created with source ldap', async () => {
    const r = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/alice:1`, { destCreds: 'alice:alice-pass-1' });
    expect(r.code, r.stderr).toBe(0);
    const row = (await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'alice'))))!;
    expect(row).toMatchObject({ source: 'ldap', email: 'alice@example.org', admin: false, passwordHash: null });
    const groups = (await w.wharf.deps.db.select().from(userGroups).where(eq(userGroups.userId, row.id))).map((g) => g.groupName).sort();
    expect(groups).toEqual(['devs', 'viewers']);
    expect((await w.api('GET', '/api/v1/projects/team/groups', { auth: admin })).body).toEqual([
      { group: 'devs', role: 'developer' },
      { group: 'viewers', role: 'guest' },
    ]);
  });

  it('a user whose group is guest pulls and cannot push', async () => {
    expect((await skopeoInspect(`docker://${w.registry}/team/base:1`, 'bob:bob-pass-1')).code).toBe(0);
    const push = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/bob:1`, { destCreds: 'bob:bob-pass-1' });
    expect(push.code).not.toBe(0);
    expect((await skopeoInspect(`docker://${w.registry}/team/bob:1`, admin)).code).not.toBe(0);
  });

  it('the effective role is the highest of own membership and groups', async () => {
    expect((await w.api('PUT', '/api/v1/projects/team/members/bob', { auth: admin, body: { role: 'developer' } })).status).toBe(200);
    expect((await tokenFor(w, 'bob:bob-pass-1', 'repository:team/x:pull,push')).access).toEqual([
      { type: 'repository', name: 'team/x', actions: ['pull', 'push'] },
    ]);
    await w.api('DELETE', '/api/v1/projects/team/members/bob', { auth: admin });
    expect((await tokenFor(w, 'bob:bob-pass-1', 'repository:team/x:pull,push')).access).toEqual([
      { type: 'repository', name: 'team/x', actions: ['pull'] },
    ]);
  });

  it('removing the user from the group in the directory takes effect after the refresh interval', async () => {
    expect((await tokenFor(w, 'alice:alice-pass-1', 'repository:team/x:push')).access).toEqual([{ type: 'repository', name: 'team/x', actions: ['push'] }]);
    await ldap.removeFromGroup('devs', 'alice');
    await new Promise((r) => setTimeout(r, 2500));
    expect((await tokenFor(w, 'alice:alice-pass-1', 'repository:team/x:push')).access).toEqual([]);
    const push = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/alice:2`, { destCreds: 'alice:alice-pass-1' });
    expect(push.code).not.toBe(0);
    await ldap.addToGroup('devs', 'alice');
  });

  it('a member of the admin group is a system admin and reads the catalog; leaving the group ends it', async () => {
    const t = await tokenFor(w, 'carol:carol-pass-1', 'registry:catalog:*');
    expect(t.access).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const cat = await fetch(`http://${w.registry}/v2/_catalog`, { headers: { authorization: `Bearer ${t.body.token}` } });
    expect(cat.status).toBe(200);
    expect(((await cat.json()) as { repositories: string[] }).repositories).toContain('team/base');
    expect((await w.api('GET', '/api/v1/me', { auth: 'carol:carol-pass-1' })).body).toEqual({ username: 'carol', admin: true, source: 'ldap' });
    await ldap.removeFromGroup('registry-admins', 'carol');
    await new Promise((r) => setTimeout(r, 2500));
    expect((await tokenFor(w, 'carol:carol-pass-1', 'registry:catalog:*')).access).toEqual([]);
    await ldap.addToGroup('registry-admins', 'carol');
  });

  it('wrong passwords, unknown users, empty passwords, reserved names and filter injection all fail', async () => {
    for (const creds of ['alice:wrong', 'nobody:whatever', 'system:system-pass-1', 'alice:', '*:alice-pass-1', '*)(uid=*:alice-pass-1', 'alice)(|(uid=*:alice-pass-1', '*)(uid=*))(|(uid=*:x']) {
      const t = await tokenFor(w, creds, 'repository:team/base:pull');
      expect(t.status, creds).toBe(401);
    }
    // Nothing was created for them.
    expect((await w.wharf.deps.db.select().from(users)).map((u) => u.username).sort()).toEqual(['admin', 'alice', 'bob', 'carol']);
  });

  it('a local user and a directory user of the same name never merge: the local account wins', async () => {
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'dave', password: 'dave-local-pass' } })).status).toBe(201);
    expect((await tokenFor(w, 'dave:dave-directory-1', 'repository:team/base:pull')).status).toBe(401);
    expect((await tokenFor(w, 'dave:dave-local-pass', 'repository:team/base:pull')).status).toBe(200);
    expect((await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'dave'))))!.source).toBe('local');
  });

  it('a personal access token lets a directory user use docker without the directory password', async () => {
    const made = await w.api('POST', '/api/v1/users/alice/tokens', { auth: 'alice:alice-pass-1', body: { name: 'ci' } });
    expect(made.status).toBe(201);
    const r = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/alice:pat`, { destCreds: `alice:${made.body.secret}` });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('when the directory is down', () => {
  it('cached users keep pulling, new logins get 503, health says degraded, and it recovers', async () => {
    const w = await startTestWharf({ ldap: ldapConfig() });
    try {
      await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } });
      await w.api('PUT', '/api/v1/projects/team/groups/viewers', { auth: admin, body: { role: 'guest' } });
      await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/team/base:1`, { destCreds: admin });
      expect((await skopeoInspect(`docker://${w.registry}/team/base:1`, 'bob:bob-pass-1')).code).toBe(0);
      expect((await w.api('GET', '/api/v1/health')).body).toMatchObject({ status: 'healthy', ldap: 'ok' });

      await ldap.stop();
      try {
        const cached = await skopeoInspect(`docker://${w.registry}/team/base:1`, 'bob:bob-pass-1');
        expect(cached.code, cached.stderr).toBe(0);
        const fresh = await tokenFor(w, 'erin:erin-pass-1', 'repository:team/base:pull');
        expect(fresh.status).toBe(503);
        expect(fresh.body).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'the user directory cannot be reached; try again later' }] });
        // Local users are not affected.
        expect((await tokenFor(w, admin, 'repository:team/base:pull')).status).toBe(200);
        const health = await w.api('GET', '/api/v1/health');
        expect(health.status).toBe(200);
        expect(health.body).toMatchObject({ status: 'degraded', ldap: 'degraded', database: 'ok', registry: 'ok' });
      } finally {
        await ldap.start();
      }
      expect((await tokenFor(w, 'erin:erin-pass-1', 'repository:team/base:pull')).status).toBe(200);
    } finally {
      await w.stop();
    }
  });
});

describe('TLS and several URLs', () => {
  it('ldaps:// with caFile works; without the CA the directory is unavailable, not a wrong password', async () => {
    const w = await startTestWharf({ ldap: ldapConfig({ url: ldap.ldapsUrl, caFile: ldap.caFile }) });
    try {
      expect((await tokenFor(w, 'bob:bob-pass-1', 'repository:team/x:pull')).status).toBe(200);
    } finally {
      await w.stop();
    }
    const untrusted = await startTestWharf({ ldap: ldapConfig({ url: ldap.ldapsUrl }) });
    try {
      expect((await tokenFor(untrusted, 'bob:bob-pass-1', 'repository:team/x:pull')).status).toBe(503);
    } finally {
      await untrusted.stop();
    }
  });

  it('StartTLS on the plain port with caFile', async () => {
    const w = await startTestWharf({ ldap: ldapConfig({ startTLS: true, caFile: ldap.caFile }) });
    try {
      expect((await tokenFor(w, 'bob:bob-pass-1', 'repository:team/x:pull')).status).toBe(200);
    } finally {
      await w.stop();
    }
  });

  it('a dead first URL is skipped for the next', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const w = await startTestWharf({ ldap: ldapConfig({ url: `${dead} ${ldap.url}` }) });
    try {
      expect((await tokenFor(w, 'bob:bob-pass-1', 'repository:team/x:pull')).status).toBe(200);
    } finally {
      await w.stop();
    }
  });
});

describe('directory accounts follow the directory on every credential path', () => {
  let w: TestWharf;
  const refreshSeconds = 1;
  const graceSeconds = 3;
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const pastRefresh = () => wait(refreshSeconds * 1000 + 600);

  const postForm = async (form: Record<string, string>) => {
    const res = await fetch(`${w.url}/service/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await res.json().catch(() => null)) as any;
    return { status: res.status, access: body?.token ? (decodeJwt(body.token).access as unknown[]) : null };
  };
  const refreshToken = async (creds: string) => {
    const res = await fetch(`${w.url}/service/token?service=wharf-registry&offline_token=true&client_id=test`, {
      headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}` },
    });
    return ((await res.json()) as { refresh_token: string }).refresh_token;
  };
  const signIn = async (username: string, password: string) => {
    const r = await w.api('POST', '/api/v1/session', { body: { username, password } });
    expect(r.status).toBe(200);
    return r.headers.get('set-cookie')!.split(';')[0]!;
  };
  const meWithCookie = async (cookie: string) => (await w.api('GET', '/api/v1/me', { headers: { cookie } })).status;

  beforeAll(async () => {
    for (const uid of ['frank', 'gina', 'hank', 'ivan']) await ldap.addUser({ uid, password: `${uid}-pass-1` });
    await ldap.addGroup({ cn: 'builders', members: ['frank', 'gina', 'hank', 'ivan'] });
    await ldap.addToGroup('registry-admins', 'hank');
    w = await startTestWharf({
      ldap: ldapConfig({ groupRefreshSeconds: refreshSeconds, outageGraceSeconds: graceSeconds }),
      auth: { credentialCacheSeconds: 60 },
    });
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'build' } })).status).toBe(201);
    expect((await w.api('PUT', '/api/v1/projects/build/groups/builders', { auth: admin, body: { role: 'developer' } })).status).toBe(200);
  });
  afterAll(() => w?.stop());

  it('a personal token, a refresh token, a session and a cached password lose a group the directory took away', async () => {
    const pat = (await w.api('POST', '/api/v1/users/frank/tokens', { auth: 'frank:frank-pass-1', body: { name: 'ci' } })).body.secret as string;
    const refresh = await refreshToken('frank:frank-pass-1');
    const cookie = await signIn('frank', 'frank-pass-1');
    const push = [{ type: 'repository', name: 'build/app', actions: ['push'] }];
    expect((await tokenFor(w, `frank:${pat}`, 'repository:build/app:push')).access).toEqual(push);
    expect((await postForm({ grant_type: 'refresh_token', refresh_token: refresh, service: 'wharf-registry', scope: 'repository:build/app:push' })).access).toEqual(push);
    expect((await w.api('GET', '/api/v1/projects/build', { headers: { cookie } })).status).toBe(200);

    await ldap.removeFromGroup('builders', 'frank');
    await pastRefresh();
    expect((await tokenFor(w, `frank:${pat}`, 'repository:build/app:push')).access).toEqual([]);
    expect((await postForm({ grant_type: 'refresh_token', refresh_token: refresh, service: 'wharf-registry', scope: 'repository:build/app:push' })).access).toEqual([]);
    // The cached password (cache 60 s) answers without the directory, but the groups are read again.
    expect((await tokenFor(w, 'frank:frank-pass-1', 'repository:build/app:push')).access).toEqual([]);
    // The private project is no longer the session's to see.
    expect((await w.api('GET', '/api/v1/projects/build', { headers: { cookie } })).status).toBe(404);
  });

  it('leaving the admin group ends system admin rights on a personal token', async () => {
    const pat = (await w.api('POST', '/api/v1/users/hank/tokens', { auth: 'hank:hank-pass-1', body: { name: 'ci' } })).body.secret as string;
    expect((await w.api('GET', '/api/v1/me', { auth: `hank:${pat}` })).body).toMatchObject({ admin: true });
    await ldap.removeFromGroup('registry-admins', 'hank');
    await pastRefresh();
    expect((await w.api('GET', '/api/v1/me', { auth: `hank:${pat}` })).body).toMatchObject({ admin: false });
    expect((await tokenFor(w, `hank:${pat}`, 'registry:catalog:*')).access).toEqual([]);
  });

  it('a user removed from the directory is refused on every path and their sessions end', async () => {
    const pat = (await w.api('POST', '/api/v1/users/gina/tokens', { auth: 'gina:gina-pass-1', body: { name: 'ci' } })).body.secret as string;
    const refresh = await refreshToken('gina:gina-pass-1');
    const cookie = await signIn('gina', 'gina-pass-1');
    expect(await meWithCookie(cookie)).toBe(200);
    await ldap.removeUser('gina');
    await pastRefresh();
    expect((await tokenFor(w, `gina:${pat}`, 'repository:build/app:pull')).status).toBe(401);
    expect((await postForm({ grant_type: 'refresh_token', refresh_token: refresh, service: 'wharf-registry' })).status).toBe(401);
    expect((await tokenFor(w, 'gina:gina-pass-1', 'repository:build/app:pull')).status).toBe(401);
    expect(await meWithCookie(cookie)).toBe(401);
    const row = (await firstRow(w.wharf.deps.db.select().from(users).where(eq(users.username, 'gina'))))!;
    expect((await w.wharf.deps.db.select().from(userGroups).where(eq(userGroups.userId, row.id)))).toEqual([]);
    // Back in the directory: the password signs in again, and so does the token.
    await ldap.addUser({ uid: 'gina', password: 'gina-pass-2' });
    expect((await tokenFor(w, 'gina:gina-pass-2', 'repository:build/app:pull')).status).toBe(200);
    expect((await tokenFor(w, `gina:${pat}`, 'repository:build/app:pull')).status).toBe(200);
  });

  it('while the directory is down the last known state serves for the grace period, then 503', async () => {
    const pat = (await w.api('POST', '/api/v1/users/ivan/tokens', { auth: 'ivan:ivan-pass-1', body: { name: 'ci' } })).body.secret as string;
    const pull = [{ type: 'repository', name: 'build/app', actions: ['pull'] }];
    await ldap.stop();
    try {
      await pastRefresh();
      expect((await tokenFor(w, `ivan:${pat}`, 'repository:build/app:pull')).access).toEqual(pull);
      await wait(graceSeconds * 1000);
      const late = await tokenFor(w, `ivan:${pat}`, 'repository:build/app:pull');
      expect(late.status).toBe(503);
    } finally {
      await ldap.start();
    }
    expect((await tokenFor(w, `ivan:${pat}`, 'repository:build/app:pull')).access).toEqual(pull);
  });
});

describe('the login throttle and directory names', () => {
  it('case and space variants of a directory name share one count, and an invalid name never reaches the directory', async () => {
    const w = await startTestWharf({ ldap: ldapConfig(), auth: { maxFailures: 3, credentialCacheSeconds: 0 } });
    try {
      for (const creds of ['erin:wrong-1', 'ERIN:wrong-2', ' erin :erin-pass-1']) expect((await tokenFor(w, creds, 'repository:x/y:pull')).status, creds).toBe(401);
      const locked = await tokenFor(w, 'Erin:erin-pass-1', 'repository:x/y:pull');
      expect(locked.status).toBe(429);
    } finally {
      await w.stop();
    }
  });

  it('the directory spelling names the account: a login as ERIN is erin', async () => {
    const w = await startTestWharf({ ldap: ldapConfig() });
    try {
      expect((await w.api('GET', '/api/v1/me', { auth: 'ERIN:erin-pass-1' })).body).toMatchObject({ username: 'erin', source: 'ldap' });
      expect((await w.api('GET', '/api/v1/me', { auth: 'erin:erin-pass-1' })).body).toMatchObject({ username: 'erin' });
      expect((await w.wharf.deps.db.select().from(users)).filter((u) => u.username.toLowerCase() === 'erin')).toHaveLength(1);
    } finally {
      await w.stop();
    }
  });

  it("a directory name with an apostrophe (o'brien) signs in", async () => {
    await ldap.addUser({ uid: "o'brien", password: 'obrien-pass-1' });
    const w = await startTestWharf({ ldap: ldapConfig() });
    try {
      expect((await w.api('GET', '/api/v1/me', { auth: "o'brien:obrien-pass-1" })).body).toMatchObject({ username: "o'brien", source: 'ldap' });
    } finally {
      await w.stop();
    }
  });

  it('unknown names, and right and wrong directory passwords, cost as much as a local check (the decoy hash)', async () => {
    const w = await startTestWharf({ ldap: ldapConfig(), auth: { credentialCacheSeconds: 0, maxFailures: 1000 } });
    try {
      expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'localuser', password: 'local-pass-1' } })).status).toBe(201);
      // The four kinds take turns, so a burst of load on the shared machine slows each of them alike.
      const kinds = { local: 'localuser:wrong-password', unknown: 'nobody-at-all:wrong-password', wrong: 'bob:wrong-password', right: 'bob:bob-pass-1' };
      const times: Record<keyof typeof kinds, number[]> = { local: [], unknown: [], wrong: [], right: [] };
      for (let i = 0; i < 9; i++) {
        for (const [kind, creds] of Object.entries(kinds) as [keyof typeof kinds, string][]) {
          const t0 = performance.now();
          await tokenFor(w, creds, 'repository:x/y:pull');
          times[kind].push(performance.now() - t0);
        }
      }
      const median = (kind: keyof typeof kinds) => times[kind].sort((a, b) => a - b)[4]!;
      const [local, unknown, wrong, right] = [median('local'), median('unknown'), median('wrong'), median('right')];
      // Without the decoy an unknown name answered about ten times faster than a local one; the
      // bound leaves room for a busy machine.
      const seen = JSON.stringify({ local, unknown, wrong, right });
      expect(unknown / local, seen).toBeGreaterThan(0.4);
      expect(wrong / local, seen).toBeGreaterThan(0.4);
      expect(right / local, seen).toBeGreaterThan(0.4);
    } finally {
      await w.stop();
    }
  });
});
