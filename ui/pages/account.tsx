import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export interface AccountProps {
  v: View;
  user: { username: string; email: string | null; admin: boolean; source: string; createdAt: string; lastLoginAt: string | null };
  tokens: { name: string; expiresAt: string | null; createdAt: string; lastUsedAt: string | null }[];
  registryHost: string;
  /** A token just created: its secret is shown this once. */
  created?: { name: string; secret: string } | null;
  error?: string | null;
  notice?: string | null;
}

export const AccountPage: FC<AccountProps> = ({ v, user, tokens, registryHost, created, error, notice }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('account.title')} nav="account">
      <h1>{t('account.title')}</h1>
      <ErrorBox message={error} />
      <Notice message={notice} />
      <section class="card">
        <dl class="facts">
          <dt>{t('login.username')}</dt>
          <dd>
            {user.username} {user.admin ? <Badge kind="admin">{t('users.admin')}</Badge> : null}
          </dd>
          <dt>{t('users.email')}</dt>
          <dd>{user.email ?? <span class="muted">{t('common.none')}</span>}</dd>
          <dt>{t('users.source')}</dt>
          <dd>{t(user.source === 'ldap' ? 'users.sourceLdap' : user.source === 'htpasswd' ? 'users.sourceHtpasswd' : 'users.sourceLocal')}</dd>
          <dt>{t('users.lastLogin')}</dt>
          <dd>
            <Time v={v} iso={user.lastLoginAt} />
          </dd>
        </dl>
      </section>

      {created ? (
        <section class="card secret-once" role="status">
          <h2>{t('account.tokenCreated', { name: created.name })}</h2>
          <p>{t('account.secretOnce')}</p>
          <p>
            <code class="secret" data-copy="" data-copy-label={t('common.copy')} data-copied-label={t('common.copied')}>
              {created.secret}
            </code>
          </p>
          <p class="muted small-text">{t('account.loginHint')}</p>
          <p>
            <code>{`docker login ${registryHost} -u ${user.username}`}</code>
          </p>
        </section>
      ) : null}

      <section>
        <h2>{t('account.tokens')}</h2>
        <p class="muted">{t('account.tokensHelp')}</p>
        <ListTable
          items={tokens}
          empty={t('account.noTokens')}
          head={
            <>
              <th>{t('account.tokenName')}</th>
              <th>{t('account.created')}</th>
              <th>{t('account.expires')}</th>
              <th>{t('account.lastUsed')}</th>
              <th>{t('common.actions')}</th>
            </>
          }
          row={(tok) => (
            <tr data-token={tok.name}>
              <td>{tok.name}</td>
              <td>
                <Time v={v} iso={tok.createdAt} />
              </td>
              <td>{tok.expiresAt ? <Time v={v} iso={tok.expiresAt} /> : <span class="muted">{t('account.noExpiry')}</span>}</td>
              <td>
                <Time v={v} iso={tok.lastUsedAt} />
              </td>
              <td>
                <PostForm v={v} action="/account/tokens/revoke" class="row-form">
                  <input type="hidden" name="name" value={tok.name} />
                  <button type="submit" class="danger small">
                    {t('account.revoke')}
                  </button>
                </PostForm>
              </td>
            </tr>
          )}
        />
        <div class="card">
          <h3>{t('account.newToken')}</h3>
          <PostForm v={v} action="/account/tokens" class="inline-form">
            <label>
              {t('account.tokenName')}
              <input name="name" required maxlength={64} autocomplete="off" />
            </label>
            <label>
              {t('account.expiresInDays')}
              <input name="expiresInDays" type="number" min={1} max={3650} placeholder={t('account.noExpiry')} />
            </label>
            <button type="submit">{t('account.createToken')}</button>
          </PostForm>
        </div>
      </section>

      {user.source === 'ldap' ? (
        <p class="muted">{t('account.ldapPassword')}</p>
      ) : (
        <section class="card">
          <h2>{t('account.changePassword')}</h2>
          <PostForm v={v} action="/account/password" class="stack narrow-form">
            <label>
              {t('account.oldPassword')}
              <input name="oldPassword" type="password" required maxlength={256} autocomplete="current-password" />
            </label>
            <label>
              {t('account.newPassword')}
              <input name="newPassword" type="password" required minlength={8} maxlength={256} autocomplete="new-password" />
            </label>
            <label>
              {t('account.repeatPassword')}
              <input name="repeatPassword" type="password" required minlength={8} maxlength={256} autocomplete="new-password" />
            </label>
            <button type="submit">{t('account.changePasswordButton')}</button>
          </PostForm>
        </section>
      )}
    </Layout>
  );
};
