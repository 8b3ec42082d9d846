import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, Pager, PostForm, SearchForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export interface UserRow {
  username: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  source: string;
  lastLoginAt: string | null;
  createdAt: string;
}

export interface UsersProps {
  v: View;
  items: UserRow[];
  total: number;
  q: string;
  page: number;
  pageSize: number;
  error?: string | null;
  notice?: string | null;
  draft?: { username: string; email: string; admin: boolean };
}

export const UsersPage: FC<UsersProps> = ({ v, items, total, q, page, pageSize, error, notice, draft }) => {
  const { t } = v.i18n;
  const me = v.principal.username;
  return (
    <Layout v={v} title={t('users.title')} nav="users">
      <div class="page-head">
        <h1>{t('users.title')}</h1>
        <SearchForm v={v} action="/users" id="user-q" q={q} label={t('users.search')} />
      </div>
      <ErrorBox message={error} />
      <Notice message={notice} />
      <ListTable
        items={items}
        empty={t('users.none')}
        head={
          <>
            <th>{t('login.username')}</th>
            <th>{t('users.email')}</th>
            <th>{t('users.source')}</th>
            <th>{t('users.status')}</th>
            <th>{t('users.lastLogin')}</th>
            <th>{t('common.actions')}</th>
          </>
        }
        row={(u) => {
          const action = `/users/${encodeURIComponent(u.username)}`;
          return (
            <tr data-user={u.username}>
              <td>{u.username}</td>
              <td>{u.email ?? ''}</td>
              <td>{t(u.source === 'ldap' ? 'users.sourceLdap' : u.source === 'htpasswd' ? 'users.sourceHtpasswd' : 'users.sourceLocal')}</td>
              <td>
                {u.admin ? <Badge kind="admin">{t('users.admin')}</Badge> : null} {u.disabled ? <Badge kind="disabled">{t('users.disabled')}</Badge> : null}
                {!u.admin && !u.disabled ? <span class="muted">{t('users.regular')}</span> : null}
              </td>
              <td>
                <Time v={v} iso={u.lastLoginAt} />
              </td>
              <td class="actions">
                {u.username === me ? (
                  <span class="muted">{t('users.you')}</span>
                ) : (
                  <>
                    <PostForm v={v} action={action} class="row-form">
                      <input type="hidden" name="admin" value={u.admin ? 'false' : 'true'} />
                      <button type="submit" class="secondary small">
                        {u.admin ? t('users.revokeAdmin') : t('users.makeAdmin')}
                      </button>
                    </PostForm>
                    <PostForm v={v} action={action} class="row-form">
                      <input type="hidden" name="disabled" value={u.disabled ? 'false' : 'true'} />
                      <button type="submit" class={u.disabled ? 'secondary small' : 'danger small'}>
                        {u.disabled ? t('users.enable') : t('users.disable')}
                      </button>
                    </PostForm>
                    {u.source === 'ldap' ? null : (
                      <PostForm v={v} action={`${action}/password`} class="row-form">
                        <label class="visually-hidden" for={`pw-${u.username}`}>
                          {t('users.newPassword')}
                        </label>
                        <input
                          id={`pw-${u.username}`}
                          name="newPassword"
                          type="password"
                          required
                          minlength={8}
                          maxlength={256}
                          autocomplete="new-password"
                          placeholder={t('users.newPassword')}
                        />
                        <button type="submit" class="secondary small">
                          {t('users.resetPassword')}
                        </button>
                      </PostForm>
                    )}
                    <a href={`${action}/delete`} class="button danger small">
                      {t('users.delete')}
                    </a>
                  </>
                )}
              </td>
            </tr>
          );
        }}
      />
      <Pager v={v} path="/users" query={{ q }} page={page} pageSize={pageSize} total={total} />
      <section class="card">
        <h2>{t('users.create')}</h2>
        <PostForm v={v} action="/users" class="inline-form">
          <label>
            {t('login.username')}
            <input name="username" required maxlength={64} autocomplete="off" value={draft?.username ?? ''} />
          </label>
          <label>
            {t('users.email')}
            <input name="email" type="email" maxlength={254} autocomplete="off" value={draft?.email ?? ''} />
          </label>
          <label>
            {t('login.password')}
            <input name="password" type="password" required minlength={8} maxlength={256} autocomplete="new-password" />
          </label>
          <label class="check">
            <input type="checkbox" name="admin" value="true" checked={draft?.admin ?? false} />
            {t('users.admin')}
          </label>
          <button type="submit">{t('users.createButton')}</button>
        </PostForm>
        <p class="muted small-text">{t('users.passwordRule')}</p>
      </section>
    </Layout>
  );
};
