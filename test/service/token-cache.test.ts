import { execFileSync } from 'node:child_process';
import { firstRow } from '../../src/db/engine';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock';
import type { OpenDb } from '../../src/db/open';
import { audit, members, projects, users } from '../support/tables';
import { anonymous, type Principal } from '../../src/identity/principal';
import { TokenCache } from '../../src/token/cache';
import { loadSigningKey, type SigningKey } from '../../src/token/keys';
import { parseScopes } from '../../src/token/scope';
import { TokenSigner } from '../../src/token/signer';
import { issueToken, type IssueRequest, type TokenResponse, type TokenServiceDeps } from '../../src/token/service';
import { openTestDatabase } from '../support/test-database';

/**
 * The short-lived reuse of signed tokens (src/token/cache.ts): identical requests in a burst share
 * one signature, while authentication and the access decision still run on every request.
 */

let work: string;
let key: SigningKey;
let signer: TokenSigner;
let database: OpenDb;
let nowMs: number;
const clock: Clock = { now: () => nowMs };
const START = Date.UTC(2030, 5, 1, 12, 0, 0, 0);

let alice: Principal;
let bob: Principal;
let teamId: number;

const deps = (over: Partial<TokenServiceDeps> = {}): TokenServiceDeps => ({
  db: database.db,
  clock,
  signer,
  issuer: 'wharf-test',
  service: 'wharf-registry',
  expiresIn: 900,
  refreshTokenDays: 30,
  defaultProject: 'library',
  ...over,
});

const ask = (principal: Principal, scope: string | string[], extra: Partial<IssueRequest> = {}, over: Partial<TokenServiceDeps> = {}) =>
  issueToken(deps(over), { principal, scopes: parseScopes(Array.isArray(scope) ? scope : [scope]), offline: false, login: true, ...extra });

const jti = (r: TokenResponse) => decodeJwt(r.token).jti;

const userPrincipal = (id: number, username: string): Principal => ({ kind: 'user', id, username, admin: false, source: 'local', via: 'password' });

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wharf-token-cache-'));
  key = await loadSigningKey({ dataDir: work, algorithm: 'ES256', keyFile: '', certFile: '', commonName: 'cache-test' });
  signer = new TokenSigner(key);
  database = await openTestDatabase();
  const { db } = database;
  const a = (await firstRow(db.insert(users).values({ username: 'alice', passwordHash: null }).returning()))!;
  const b = (await firstRow(db.insert(users).values({ username: 'bob', passwordHash: null }).returning()))!;
  alice = userPrincipal(a.id, a.username);
  bob = userPrincipal(b.id, b.username);
  teamId = (await firstRow(db.insert(projects).values({ name: 'team' }).returning()))!.id;
  await db.insert(projects).values({ name: 'pub', public: true });
  await db.insert(members).values({ projectId: teamId, userId: a.id, role: 'developer' });
  await db.insert(members).values({ projectId: teamId, userId: b.id, role: 'developer' });
});

afterAll(async () => {
  await database?.close();
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  signer.reuse.clear();
  nowMs = START;
});

describe('token reuse within the window', () => {
  it('hands out the same token for the same principal and access', async () => {
    const first = await ask(alice, 'repository:team/app:pull,push');
    nowMs += 1500;
    const second = await ask(alice, 'repository:team/app:pull,push');
    expect(second.token).toBe(first.token);
    expect(second.access_token).toBe(second.token);
    expect(second.scope).toBe('repository:team/app:pull,push');
    // the reused token is a valid token, checked against the x5c certificate
    const publicKey = new X509Certificate(Buffer.from(key.x5c[0]!, 'base64')).publicKey;
    const { payload } = await jwtVerify(second.token, publicKey, { audience: 'wharf-registry', issuer: 'wharf-test', currentDate: new Date(nowMs) });
    expect(payload.sub).toBe('alice');
  });

  it('reports the remaining lifetime and the real issue time of a reused token', async () => {
    const first = await ask(alice, 'repository:team/app:pull');
    expect(first.expires_in).toBe(900);
    expect(first.issued_at).toBe(new Date(START).toISOString());
    nowMs = START + 999;
    expect((await ask(alice, 'repository:team/app:pull')).expires_in).toBe(900);
    nowMs = START + 4_000;
    const later = await ask(alice, 'repository:team/app:pull');
    expect(later.token).toBe(first.token);
    expect(later.expires_in).toBe(896);
    expect(later.issued_at).toBe(first.issued_at);
    nowMs = START + 9_500;
    const last = await ask(alice, 'repository:team/app:pull');
    expect(last.token).toBe(first.token);
    expect(last.expires_in).toBe(891);
    // expires_in always matches the token's own exp
    expect(decodeJwt(last.token).exp! - Math.floor(nowMs / 1000)).toBe(last.expires_in);
  });

  it('signs a new token (new jti) once the window has passed', async () => {
    const first = await ask(alice, 'repository:team/app:pull');
    nowMs = START + 9_999;
    expect(jti(await ask(alice, 'repository:team/app:pull'))).toBe(jti(first));
    nowMs = START + 10_000;
    const fresh = await ask(alice, 'repository:team/app:pull');
    expect(jti(fresh)).not.toBe(jti(first));
    expect(fresh.expires_in).toBe(900);
    expect(fresh.issued_at).toBe(new Date(START + 10_000).toISOString());
    // and the new token is the one reused from then on
    nowMs = START + 12_000;
    expect((await ask(alice, 'repository:team/app:pull')).token).toBe(fresh.token);
  });

  it('reuses for at most 5 % of a short lifetime, and never below 60 s left', async () => {
    // 100 s lifetime: 5 s window
    const short = await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 100 });
    nowMs = START + 4_900;
    expect((await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 100 })).token).toBe(short.token);
    nowMs = START + 5_000;
    expect((await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 100 })).token).not.toBe(short.token);

    // 60 s lifetime: reused only within the same second, so expires_in never drops below 60
    nowMs = START + 60_000;
    const minimal = await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 60 });
    nowMs = START + 60_900;
    const same = await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 60 });
    expect(same.token).toBe(minimal.token);
    expect(same.expires_in).toBe(60);
    nowMs = START + 61_000;
    const next = await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 60 });
    expect(next.token).not.toBe(minimal.token);
    expect(next.expires_in).toBe(60);
  });

  it('does not reuse when the clock went backwards', async () => {
    const first = await ask(alice, 'repository:team/app:pull');
    nowMs = START - 1;
    expect((await ask(alice, 'repository:team/app:pull')).token).not.toBe(first.token);
  });
});

describe('what a token is reused for', () => {
  it('a different access list gets a different token', async () => {
    const pull = await ask(alice, 'repository:team/app:pull');
    const push = await ask(alice, 'repository:team/app:pull,push');
    const other = await ask(alice, 'repository:team/other:pull');
    const both = await ask(alice, ['repository:team/app:pull', 'repository:team/other:pull']);
    const tokens = new Set([pull, push, other, both].map((r) => r.token));
    expect(tokens.size).toBe(4);
    expect(decodeJwt(push.token).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  });

  it('a different subject gets a different token, even for the same access', async () => {
    const a = await ask(alice, 'repository:team/app:pull');
    const b = await ask(bob, 'repository:team/app:pull');
    expect(b.token).not.toBe(a.token);
    expect(decodeJwt(b.token).sub).toBe('bob');
    const anon = await ask(anonymous, 'repository:pub/app:pull');
    const userOnPublic = await ask(alice, 'repository:pub/app:pull');
    expect(userOnPublic.token).not.toBe(anon.token);
    expect(decodeJwt(anon.token).sub).toBe('');
  });

  it('a different issuer, service or lifetime gets a different token', async () => {
    const base = await ask(alice, 'repository:team/app:pull');
    expect((await ask(alice, 'repository:team/app:pull', {}, { issuer: 'other' })).token).not.toBe(base.token);
    expect((await ask(alice, 'repository:team/app:pull', {}, { service: 'other' })).token).not.toBe(base.token);
    expect((await ask(alice, 'repository:team/app:pull', {}, { expiresIn: 600 })).token).not.toBe(base.token);
  });

  it('decides access on every request: a role change takes effect at once', async () => {
    const before = await ask(bob, 'repository:team/app:pull,push');
    expect(before.scope).toBe('repository:team/app:pull,push');
    const { db } = database;
    const where = and(eq(members.projectId, teamId), eq(members.userId, bob.kind === 'user' ? bob.id : -1));
    try {
      await db.update(members).set({ role: 'guest' }).where(where);
      nowMs += 1000;
      const guest = await ask(bob, 'repository:team/app:pull,push');
      expect(guest.scope).toBe('repository:team/app:pull');
      expect(decodeJwt(guest.token).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      await db.delete(members).where(where);
      const none = await ask(bob, 'repository:team/app:pull,push');
      expect(none.scope).toBeUndefined();
      expect(decodeJwt(none.token).access).toEqual([]);
    } finally {
      await db.insert(members)
        .values({ projectId: teamId, userId: bob.kind === 'user' ? bob.id : -1, role: 'developer' })
        .onConflictDoUpdate({ target: [members.projectId, members.userId], set: { role: 'developer' } })
        ;
    }
  });

  it('still audits every request, reused token or not', async () => {
    const denials = async () => (await database.db.select().from(audit).where(eq(audit.action, 'token_denied'))).reduce((n, r) => n + r.count, 0);
    const before = await denials();
    const a = await ask(alice, 'repository:pub/app:pull,push');
    const b = await ask(alice, 'repository:pub/app:pull,push');
    expect(b.token).toBe(a.token);
    expect((await denials())).toBe(before + 2);
  });

  it('never reuses a token in a response that carries a refresh token', async () => {
    const plain = await ask(alice, 'repository:team/app:pull');
    const offline1 = await ask(alice, 'repository:team/app:pull', { offline: true });
    const offline2 = await ask(alice, 'repository:team/app:pull', { offline: true });
    expect(offline1.refresh_token).toBeTruthy();
    expect(offline2.refresh_token).not.toBe(offline1.refresh_token);
    expect(offline1.token).not.toBe(plain.token);
    expect(offline2.token).not.toBe(offline1.token);
    // nor remembers one for later requests
    expect((await ask(alice, 'repository:team/app:pull')).token).toBe(plain.token);
  });

  it('never reuses a token for a refresh-token grant', async () => {
    const refreshed: Principal = { ...(alice as Extract<Principal, { kind: 'user' }>), via: 'refresh' };
    const a = await ask(refreshed, 'repository:team/app:pull', { login: false });
    const b = await ask(refreshed, 'repository:team/app:pull', { login: false });
    expect(b.token).not.toBe(a.token);
    expect(jti(b)).not.toBe(jti(a));
  });

  it('reuses RS256 tokens too', async () => {
    const dir = path.join(work, 'rsa');
    mkdirSync(dir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=t', '-keyout', 'k.pem', '-out', 'c.pem'], {
      cwd: dir,
      stdio: 'ignore',
    });
    const rsa = await loadSigningKey({ dataDir: dir, algorithm: 'RS256', keyFile: path.join(dir, 'k.pem'), certFile: path.join(dir, 'c.pem'), commonName: 'x' });
    const rsaSigner = new TokenSigner(rsa);
    const a = await ask(alice, 'repository:team/app:pull', {}, { signer: rsaSigner });
    nowMs += 2000;
    const b = await ask(alice, 'repository:team/app:pull', {}, { signer: rsaSigner });
    expect(b.token).toBe(a.token);
    expect(b.expires_in).toBe(898);
    const publicKey = new X509Certificate(Buffer.from(rsa.x5c[0]!, 'base64')).publicKey;
    const { protectedHeader } = await jwtVerify(b.token, publicKey, { algorithms: ['RS256'], currentDate: new Date(nowMs) });
    expect(protectedHeader.alg).toBe('RS256');
  });

  it('keeps tokens of different signing keys apart', async () => {
    const other = await loadSigningKey({ dataDir: path.join(work, 'other'), algorithm: 'ES256', keyFile: '', certFile: '', commonName: 'other' });
    const a = await ask(alice, 'repository:team/app:pull');
    const b = await ask(alice, 'repository:team/app:pull', {}, { signer: new TokenSigner(other) });
    expect(b.token).not.toBe(a.token);
    expect(b.token.split('.')[0]).not.toBe(a.token.split('.')[0]);
  });
});

describe('TokenCache', () => {
  const signed = (n: number) => ({ token: `t${n}`, iat: Math.floor(START / 1000), exp: Math.floor(START / 1000) + 900 });

  it('holds at most maxEntries tokens, dropping the oldest', () => {
    const cache = new TokenCache(3);
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, signed(i), START, 900);
    expect(cache.size).toBe(3);
    expect(cache.get('k0', START)).toBeUndefined();
    expect(cache.get('k9', START)?.token).toBe('t9');
  });

  it('sweeps stale tokens when a new one is added', () => {
    const cache = new TokenCache(100);
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, signed(i), START, 900);
    cache.set('late', signed(99), START + 10_000, 900);
    expect(cache.size).toBe(1);
  });

  it('computes the reuse window from the lifetime', () => {
    expect(TokenCache.reuseWindowMs(900)).toBe(10_000);
    expect(TokenCache.reuseWindowMs(86_400)).toBe(10_000);
    expect(TokenCache.reuseWindowMs(100)).toBe(5_000);
    expect(TokenCache.reuseWindowMs(60)).toBe(3_000);
  });
});
