import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, badRequest } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { CreateUserSchema } from '../../src/identity/schemas';
import { assertPasswordPolicy, assertUsername, changePassword, createUser, deleteUser, getUser, listUsers, updateUser } from '../../src/identity/users';
import { ConfirmPage } from '../pages/confirm';
import { UsersPage } from '../pages/users';
import { UI_PAGE_SIZE } from '../view';
import { errorText, statusOf } from './page-errors';
import { adminUser, field, formInput, formOf, noticeOf, pageOf, queryText, render, view } from './request';

/** Users, for system admins: create, make admin, disable, reset a password, delete. */
export function usersPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const usersPage = async (c: AppContext, extra: { error?: string; draft?: { username: string; email: string; admin: boolean }; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error ? '/users' : undefined);
    const q = queryText(c, 'q', 128);
    const page = pageOf(c);
    const { items, total } = await listUsers(c.var.deps, { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    return render(
      c,
      <UsersPage v={v} items={items} total={total} q={q} page={page} pageSize={UI_PAGE_SIZE} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />,
      extra.status,
    );
  };

  ui.get('/users', (c) => {
    adminUser(c);
    return usersPage(c);
  });

  ui.post('/users', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const draft = { username: field(form, 'username').trim(), email: field(form, 'email').trim(), admin: field(form, 'admin') === 'true' };
    const password = field(form, 'password');
    try {
      const input = formInput(CreateUserSchema, { username: draft.username, password, email: draft.email || undefined, admin: draft.admin }, {
        username: () => assertUsername(draft.username),
        password: () => assertPasswordPolicy(password),
        email: () => badRequest('form.badEmail'),
      });
      await createUser(ctxOf(c), { ...input, email: input.email ?? null });
    } catch (err) {
      return usersPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect('/users?done=userCreated', 303);
  });

  ui.post('/users/:username', async (c) => {
    adminUser(c);
    const username = c.req.param('username');
    const form = await formOf(c);
    const input: { admin?: boolean; disabled?: boolean } = {};
    if (field(form, 'admin')) input.admin = field(form, 'admin') === 'true';
    if (field(form, 'disabled')) input.disabled = field(form, 'disabled') === 'true';
    if (input.admin === undefined && input.disabled === undefined) throw badRequest('form.nothingToChange');
    try {
      await updateUser(ctxOf(c), username, input);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=userUpdated', 303);
  });

  ui.post('/users/:username/password', async (c) => {
    adminUser(c);
    const username = c.req.param('username');
    const form = await formOf(c);
    try {
      await changePassword(ctxOf(c), username, { newPassword: field(form, 'newPassword') });
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=passwordReset', 303);
  });

  /** The second step before a user is deleted. */
  ui.get('/users/:username/delete', async (c) => {
    adminUser(c);
    const user = await getUser(c.var.deps.db, c.req.param('username'));
    const v = view(c);
    const { t } = v.i18n;
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="users"
        title={t('delete.userTitle')}
        facts={[
          [t('login.username'), user.username],
          [t('users.email'), user.email ?? ''],
        ]}
        warning={t('delete.userWarning')}
        action={`/users/${encodeURIComponent(user.username)}/delete`}
        fields={{}}
        button={t('delete.confirmUser')}
        back="/users"
      />,
    );
  });

  ui.post('/users/:username/delete', async (c) => {
    adminUser(c);
    const username = c.req.param('username');
    try {
      await deleteUser(ctxOf(c), username);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=userDeleted', 303);
  });

  return ui;
}
