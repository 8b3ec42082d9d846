import type { FC } from 'hono/jsx';
import { Csrf, ErrorBox } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export const LoginPage: FC<{ v: View; username?: string; error?: string | null; next?: string }> = ({ v, username, error, next }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('login.title')}>
      <section class="card narrow">
        <h1>{t('login.title')}</h1>
        <ErrorBox message={error} />
        <form method="post" action="/login" class="stack">
          <Csrf v={v} />
          {next ? <input type="hidden" name="next" value={next} /> : null}
          <label>
            {t('login.username')}
            <input name="username" autocomplete="username" required maxlength={256} value={username ?? ''} autofocus />
          </label>
          <label>
            {t('login.password')}
            <input name="password" type="password" autocomplete="current-password" required maxlength={256} />
          </label>
          <button type="submit">{t('login.submit')}</button>
        </form>
        <p class="muted small-text">{t('login.hint')}</p>
      </section>
    </Layout>
  );
};
