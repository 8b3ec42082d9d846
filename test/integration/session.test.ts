import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { projects, sessions } from '../support/tables';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** Browser sessions: cookie flags, CSRF on every state change, logout, and what ends a session. */

let w: TestWharf;
const PASSWORD = 'session-password-1';

beforeAll(async () => {
  w = await startTestWharf();
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'sam', password: PASSWORD } });
});
afterAll(() => w?.stop());

async function signIn(username = 'sam', password = PASSWORD) {
  const res = await fetch(`${w.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as any;
  return { status: res.status, body, setCookie, cookie: setCookie.split(';')[0]! };
}

const withCookie = (cookie: string, method: string, path: string, opts: { body?: unknown; csrf?: string } = {}) =>
  fetch(`${w.url}${path}`, {
    method,
    headers: {
      cookie,
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.csrf ? { 'x-csrf-token': opts.csrf } : {}),
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });

describe('POST /api/v1/session', () => {
  it('sets an HttpOnly, SameSite=Strict cookie and returns the CSRF token, never the password', async () => {
    const s = await signIn();
    expect(s.status).toBe(200);
    expect(s.setCookie).toMatch(/^wharf_session=[A-Za-z0-9_-]{40,};/);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).toMatch(/Path=\//);
    expect(s.body).toMatchObject({ username: 'sam', admin: false, csrfToken: expect.any(String) });
    expect(JSON.stringify(s.body)).not.toContain(PASSWORD);
    // Only a hash of the cookie value is stored.
    const value = s.cookie.split('=')[1]!;
    expect((await w.wharf.deps.db.select().from(sessions)).some((r) => r.idHash === value)).toBe(false);
    const me = await withCookie(s.cookie, 'GET', '/api/v1/me');
    expect(await me.json()).toEqual({ username: 'sam', admin: false, source: 'local' });
  });

  it('wrong passwords 401; robots and personal tokens cannot sign in to the web interface', async () => {
    expect((await signIn('sam', 'wrong-password')).status).toBe(401);
    await w.api('POST', '/api/v1/projects', { auth: `sam:${PASSWORD}`, body: { name: 'samproj' } });
    const robot = await w.api('POST', '/api/v1/projects/samproj/robots', { auth: `sam:${PASSWORD}`, body: { name: 'r', permissions: ['pull'] } });
    expect((await signIn(robot.body.name, robot.body.secret)).status).toBe(403);
    const pat = await w.api('POST', '/api/v1/users/sam/tokens', { auth: `sam:${PASSWORD}`, body: { name: 'cli' } });
    expect((await signIn('sam', pat.body.secret)).status).toBe(403);
    expect((await w.api('POST', '/api/v1/session', { body: { username: 'sam' } })).status).toBe(400);
  });
});

describe('CSRF', () => {
  it('a state change with the session cookie but without the CSRF token is refused and changes nothing', async () => {
    const s = await signIn();
    const refused = await withCookie(s.cookie, 'POST', '/api/v1/projects', { body: { name: 'csrf-victim' } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).error.code).toBe('csrf');
    const wrong = await withCookie(s.cookie, 'POST', '/api/v1/projects', { body: { name: 'csrf-victim' }, csrf: 'not-the-token' });
    expect(wrong.status).toBe(403);
    expect((await firstRow(w.wharf.deps.db.select().from(projects).where(eq(projects.name, 'csrf-victim'))))).toBeUndefined();
    const ok = await withCookie(s.cookie, 'POST', '/api/v1/projects', { body: { name: 'csrf-victim' }, csrf: s.body.csrfToken });
    expect(ok.status).toBe(201);
  });

  it("one session's token does not work for another session", async () => {
    const a = await signIn();
    const b = await signIn();
    const res = await withCookie(a.cookie, 'PATCH', '/api/v1/users/sam', { body: { email: 'x@example.org' }, csrf: b.body.csrfToken });
    expect(res.status).toBe(403);
  });
});

describe('oversized forms', () => {
  it('a 1 MB form to a page gets its 413 every time, never a dropped connection, and creates nothing', async () => {
    const s = await signIn();
    const body = new URLSearchParams({ _csrf: s.body.csrfToken, name: 'huge-form', filler: 'x'.repeat(1024 * 1024) }).toString();
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${w.url}/projects`, { method: 'POST', redirect: 'manual', headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body }).then(
          (r) => r.status,
          (err: Error) => `failed: ${(err.cause as Error | undefined)?.message ?? err.message}`,
        ),
      ),
    );
    expect(statuses).toEqual(Array(10).fill(413));
    expect((await firstRow(w.wharf.deps.db.select().from(projects).where(eq(projects.name, 'huge-form'))))).toBeUndefined();
    expect((await withCookie(s.cookie, 'GET', '/api/v1/me')).status).toBe(200);
  });
});

describe('ending a session', () => {
  it('sign out needs the CSRF token, then the cookie is dead', async () => {
    const s = await signIn();
    expect((await withCookie(s.cookie, 'DELETE', '/api/v1/session')).status).toBe(403);
    const out = await withCookie(s.cookie, 'DELETE', '/api/v1/session', { csrf: s.body.csrfToken });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/wharf_session=;/);
    expect((await withCookie(s.cookie, 'GET', '/api/v1/me')).status).toBe(401);
  });

  it('a password change, a disable and expiry end sessions', async () => {
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'tess', password: PASSWORD } });
    const s1 = await signIn('tess');
    await w.api('PUT', '/api/v1/users/tess/password', { auth: admin, body: { newPassword: 'tess-new-password' } });
    expect((await withCookie(s1.cookie, 'GET', '/api/v1/me')).status).toBe(401);

    const s2 = await signIn('tess', 'tess-new-password');
    await w.api('PATCH', '/api/v1/users/tess', { auth: admin, body: { disabled: true } });
    expect((await withCookie(s2.cookie, 'GET', '/api/v1/me')).status).toBe(401);
    await w.api('PATCH', '/api/v1/users/tess', { auth: admin, body: { disabled: false } });

    const s3 = await signIn('tess', 'tess-new-password');
    expect((await withCookie(s3.cookie, 'GET', '/api/v1/me')).status).toBe(200);
    await w.wharf.deps.db.update(sessions).set({ expiresAt: '2000-01-01T00:00:00.000Z' });
    expect((await withCookie(s3.cookie, 'GET', '/api/v1/me')).status).toBe(401);
  });

  it('a forged or oversized cookie is just anonymous', async () => {
    for (const cookie of ['wharf_session=forged', `wharf_session=${'a'.repeat(5000)}`, 'wharf_session=']) {
      const res = await withCookie(cookie, 'GET', '/api/v1/me');
      expect(res.status, cookie.slice(0, 30)).toBe(401);
    }
  });
});
