import type { FC, PropsWithChildren } from 'hono/jsx';
import { LOCALES, MESSAGES } from '../i18n';
import type { NavKey, View } from '../view';
import { Csrf } from './common';

/** A form with a select and a submit button: works without JavaScript; wharf.js submits on change. */
export const LanguageForm: FC<{ v: View }> = ({ v }) => {
  const { t, locale } = v.i18n;
  return (
    <form method="post" action="/lang" class="lang-form">
      <Csrf v={v} />
      <input type="hidden" name="return" value={v.here} />
      <label for="lang-select" class="visually-hidden">
        {t('lang.label')}
      </label>
      <select id="lang-select" name="lang" data-autosubmit="">
        {LOCALES.map((l) => (
          <option value={l} lang={l} selected={l === locale}>
            {MESSAGES[l]['language.name']}
          </option>
        ))}
      </select>
      <button type="submit" class="secondary small" data-hide-with-js="">
        {t('lang.apply')}
      </button>
    </form>
  );
};

/** `refreshSeconds` reloads the page (a running execution's progress) with no script. */
export const Layout: FC<PropsWithChildren<{ v: View; title: string; nav?: NavKey; refreshSeconds?: number }>> = ({ v, title, nav, refreshSeconds, children }) => {
  const { t, locale } = v.i18n;
  const user = v.principal.kind === 'user' ? v.principal : null;
  const links: { key: NavKey; href: string; label: string; show: boolean }[] = [
    { key: 'projects', href: '/projects', label: t('nav.projects'), show: true },
    { key: 'audit', href: '/audit', label: t('nav.audit'), show: !!user },
    { key: 'users', href: '/users', label: t('nav.users'), show: !!user?.admin },
    { key: 'replication', href: '/replication/policies', label: t('nav.replication'), show: !!user?.admin },
    { key: 'robots', href: '/robots', label: t('nav.robots'), show: !!user?.admin },
    { key: 'account', href: '/account', label: t('nav.account'), show: !!user },
    { key: 'system', href: '/system', label: t('nav.system'), show: !!user?.admin },
  ];
  return (
    <html lang={locale}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {refreshSeconds ? <meta http-equiv="refresh" content={String(refreshSeconds)} /> : null}
        <title>{`${title} · ${t('app.name')}`}</title>
        <link rel="stylesheet" href="/ui/static/wharf.css" />
        <script src="/ui/static/wharf.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/projects">
            {t('app.name')}
          </a>
          <nav class="main-nav" aria-label={t('nav.label')}>
            {links
              .filter((l) => l.show)
              .map((l) => (
                <a href={l.href} class={l.key === nav ? 'active' : undefined} aria-current={l.key === nav ? 'page' : undefined}>
                  {l.label}
                </a>
              ))}
          </nav>
          <div class="top-right">
            <LanguageForm v={v} />
            {user ? (
              <form method="post" action="/logout" class="signout-form">
                <Csrf v={v} />
                <span class="whoami" title={t('nav.signedInAs', { user: user.username })}>
                  {user.username}
                </span>
                <button type="submit" class="secondary small">
                  {t('nav.signOut')}
                </button>
              </form>
            ) : (
              <a href="/login" class="button small">
                {t('nav.signIn')}
              </a>
            )}
          </div>
        </header>
        <main>{children}</main>
        <footer class="foot muted">{t('footer.text')}</footer>
      </body>
    </html>
  );
};
