import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { badRequest } from '../../src/errors';
import { clientIp, ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { SESSION_COOKIE, setSessionCookie } from '../../src/http/session';
import { userPrincipal } from '../../src/identity/authenticate';
import { CreatePersonalTokenSchema } from '../../src/identity/schemas';
import { createSession, deleteSession } from '../../src/identity/sessions';
import { createPersonalToken, deletePersonalToken, listPersonalTokens } from '../../src/identity/personal-tokens';
import { changePassword, getUser } from '../../src/identity/users';
import { AccountPage } from '../pages/account';
import { errorText, statusOf } from './page-errors';
import { badExpiry, expiryField, field, formInput, formOf, noticeOf, pullHost, render, signedInUser, view } from './request';

/** The visitor's own account: personal access tokens and the password. */
export function accountPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const accountPage = async (
    c: AppContext,
    extra: { error?: string; created?: { name: string; secret: string }; status?: ContentfulStatusCode } = {},
  ) => {
    const principal = signedInUser(c);
    const { db } = c.var.deps;
    const v = view(c, '/account');
    const user = await getUser(db, principal.username);
    return render(
      c,
      <AccountPage
        v={v}
        user={user}
        tokens={await listPersonalTokens(ctxOf(c), principal.username)}
        registryHost={pullHost(c)}
        created={extra.created}
        error={extra.error}
        notice={noticeOf(c, v)}
      />,
      extra.status,
    );
  };

  ui.get('/account', (c) => accountPage(c));

  ui.post('/account/tokens', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    try {
      const input = formInput(CreatePersonalTokenSchema, { name: field(form, 'name').trim(), ...expiryField(form) }, {
        name: () => badRequest('token.badName'),
        expiresInDays: badExpiry,
      });
      const created = await createPersonalToken(ctxOf(c), principal.username, input);
      // The secret is in this response only: it is not stored and never shown again.
      return accountPage(c, { created: { name: created.name, secret: created.secret } });
    } catch (err) {
      return accountPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
  });

  ui.post('/account/tokens/revoke', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    try {
      await deletePersonalToken(ctxOf(c), principal.username, field(form, 'name'));
    } catch (err) {
      return accountPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/account?done=tokenRevoked', 303);
  });

  ui.post('/account/password', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    const newPassword = field(form, 'newPassword');
    const v = view(c, '/account');
    if (newPassword !== field(form, 'repeatPassword')) return accountPage(c, { error: v.i18n.t('account.passwordsDiffer'), status: 400 });
    let user;
    try {
      user = await changePassword(ctxOf(c), principal.username, { oldPassword: field(form, 'oldPassword'), newPassword });
    } catch (err) {
      return accountPage(c, { error: errorText(v, err), status: statusOf(err) });
    }
    // Changing the password ends every session of the user, this one too: start a fresh one.
    const old = getCookie(c, SESSION_COOKIE);
    if (old) await deleteSession(c.var.deps, old);
    const session = await createSession(c.var.deps, userPrincipal(user, 'password'), { ip: clientIp(c), userAgent: c.req.header('user-agent') ?? null });
    setSessionCookie(c, session.cookieValue, session.expiresAt);
    return c.redirect('/account?done=passwordChanged', 303);
  });

  return ui;
}
