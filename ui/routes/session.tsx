import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../../src/errors';
import { clientIp, type AppEnv } from '../../src/http/env';
import { clearSessionCookie, SESSION_COOKIE, secureCookies, setSessionCookie } from '../../src/http/session';
import { authenticatePassword } from '../../src/identity/authenticate';
import type { Principal } from '../../src/identity/principal';
import { createSession, deleteSession } from '../../src/identity/sessions';
import { isLocale, LANG_COOKIE, type MessageKey } from '../i18n';
import { LoginPage } from '../pages/login';
import { localPath } from '../view';
import { field, formOf, render, view } from './request';

/** The visitor's language, signing in and signing out. */
export function sessionPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.post('/lang', async (c) => {
    const form = await formOf(c);
    const lang = field(form, 'lang');
    if (isLocale(lang))
      setCookie(c, LANG_COOKIE, lang, { path: '/', sameSite: 'Lax', httpOnly: true, secure: secureCookies(c), maxAge: 365 * 86_400 });
    return c.redirect(localPath(field(form, 'return')), 303);
  });

  ui.get('/login', (c) => {
    const next = localPath(c.req.query('next'), '');
    if (c.var.principal.kind === 'user') return c.redirect(next || '/projects', 303);
    return render(c, <LoginPage v={view(c)} next={next} />);
  });

  ui.post('/login', async (c) => {
    const form = await formOf(c);
    const username = field(form, 'username').trim();
    const password = field(form, 'password');
    const next = localPath(field(form, 'next'), '');
    const v = view(c, next ? `/login?${new URLSearchParams({ next })}` : '/login');
    const refuse = (key: MessageKey, status: ContentfulStatusCode) =>
      render(c, <LoginPage v={v} username={username} next={next} error={v.i18n.t(key)} />, status);
    if (!username || !password) return refuse('login.missing', 400);
    // Robot accounts are for the registry and scripts; they never get a browser session.
    if (username.startsWith('robot$')) return refuse('login.robotRefused', 403);
    const ctx = { ip: clientIp(c), userAgent: c.req.header('user-agent') ?? null };
    let principal: Principal;
    try {
      principal = await authenticatePassword(c.var.deps, username, password, ctx);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.status === 429) return refuse('login.throttled', 429);
      if (err.status === 503) return refuse('login.directoryDown', 503);
      return refuse('login.invalid', 401);
    }
    if (principal.kind !== 'user') return refuse('login.robotRefused', 403);
    // A personal access token is a credential for scripts; a browser session needs the password.
    if (principal.via === 'token') return refuse('login.tokenRefused', 403);
    const session = await createSession(c.var.deps, principal, ctx);
    setSessionCookie(c, session.cookieValue, session.expiresAt);
    return c.redirect(next || '/projects', 303);
  });

  ui.post('/logout', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    const principal = c.var.principal;
    if (cookie) await deleteSession(c.var.deps, cookie, principal.kind === 'user' ? { username: principal.username, ip: clientIp(c) } : undefined);
    clearSessionCookie(c);
    return c.redirect('/login', 303);
  });

  return ui;
}
