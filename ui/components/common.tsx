import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import type { MessageKey } from '../i18n';
import type { View } from '../view';

/** The hidden CSRF field every form carries. */
export const Csrf: FC<{ v: View }> = ({ v }) => <input type="hidden" name="_csrf" value={v.csrf} />;

/** A POST form with its CSRF field. */
export const PostForm: FC<PropsWithChildren<{ v: View; action: string; class?: string }>> = ({ v, action, class: cls, children }) => (
  <form method="post" action={action} class={cls}>
    <Csrf v={v} />
    {children}
  </form>
);

export const Time: FC<{ v: View; iso: string | null | undefined }> = ({ v, iso }) =>
  iso ? <time datetime={iso}>{v.i18n.date(iso)}</time> : <span class="muted">{v.i18n.t('common.never')}</span>;

export const ErrorBox: FC<{ message?: string | null | undefined }> = ({ message }) =>
  message ? (
    <p class="alert alert-error" role="alert">
      {message}
    </p>
  ) : null;

export const Notice: FC<{ message?: string | null | undefined }> = ({ message }) =>
  message ? (
    <p class="alert alert-ok" role="status">
      {message}
    </p>
  ) : null;

export const Warning: FC<{ message?: string | null | undefined }> = ({ message }) =>
  message ? (
    <p class="alert alert-warn" role="status">
      {message}
    </p>
  ) : null;

export const Badge: FC<PropsWithChildren<{ kind: 'public' | 'private' | 'admin' | 'disabled' | 'role' | 'ok' | 'bad' | 'warn' }>> = ({ kind, children }) => (
  <span class={`badge badge-${kind}`}>{children}</span>
);

export const ShortDigest: FC<{ digest: string }> = ({ digest }) => {
  const [algo, hex = ''] = digest.split(':');
  return (
    <code class="digest" title={digest}>
      {algo}:{hex.slice(0, 12)}
    </code>
  );
};

/** Previous / next links for a paged list; keeps the other query parameters. */
export const Pager: FC<{ v: View; path: string; query: Record<string, string | undefined>; page: number; pageSize: number; total: number }> = ({
  v,
  path,
  query,
  page,
  pageSize,
  total,
}) => {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (pages <= 1) return null;
  const href = (p: number) => {
    const params = new URLSearchParams();
    for (const [k, val] of Object.entries(query)) if (val) params.set(k, val);
    params.set('page', String(p));
    return `${path}?${params.toString()}`;
  };
  const { t } = v.i18n;
  return (
    <nav class="pager" aria-label={t('pager.label')}>
      {page > 1 ? <a href={href(page - 1)}>{t('pager.previous')}</a> : <span class="muted">{t('pager.previous')}</span>}
      <span>{t('pager.position', { page, pages })}</span>
      {page < pages ? <a href={href(page + 1)}>{t('pager.next')}</a> : <span class="muted">{t('pager.next')}</span>}
    </nav>
  );
};

export const RoleName: FC<{ v: View; role: string | null | undefined }> = ({ v, role }) => {
  const key = `role.${role}` as MessageKey;
  return <>{role && ['projectAdmin', 'developer', 'guest'].includes(role) ? v.i18n.t(key) : v.i18n.t('role.none')}</>;
};

export const Empty: FC<{ children?: Child }> = ({ children }) => <p class="empty muted">{children}</p>;

/**
 * The pages' list table: the header cells once and a row per item, or the empty note (nothing
 * when there is none) for no items. `bodies` is for items that render their own tbody.
 */
export function ListTable<T>({ items, empty, class: cls, head, row, bodies = false }: { items: readonly T[]; empty?: Child; class?: string; head: Child; row: (item: T) => Child; bodies?: boolean }) {
  if (items.length === 0) return empty === undefined ? null : <Empty>{empty}</Empty>;
  return (
    <table class={cls ? `list ${cls}` : 'list'}>
      <thead>
        <tr>{head}</tr>
      </thead>
      {bodies ? items.map(row) : <tbody>{items.map(row)}</tbody>}
    </table>
  );
}

/** The GET search box of a list: `q`, searched in the database. */
export const SearchForm: FC<{ v: View; action: string; id: string; q: string; label: string; placeholder?: string; maxlength?: number }> = ({
  v,
  action,
  id,
  q,
  label,
  placeholder,
  maxlength = 128,
}) => (
  <form method="get" action={action} class="search" role="search">
    <label for={id} class="visually-hidden">
      {label}
    </label>
    <input id={id} type="search" name="q" value={q} maxlength={maxlength} placeholder={placeholder ?? label} />
    <button type="submit" class="secondary">
      {v.i18n.t('common.search')}
    </button>
  </form>
);

/** The last step of a confirmation form: the danger button and the way back. */
export const ConfirmButtons: FC<{ v: View; label: string; back: string }> = ({ v, label, back }) => (
  <>
    <button type="submit" class="danger">
      {label}
    </button>
    <a href={back} class="button secondary">
      {v.i18n.t('common.cancel')}
    </a>
  </>
);

/** A robot's secret right after it was made (this page only), with the login command that uses it. */
export const RobotSecretOnce: FC<{ v: View; robot: { name: string; secret: string }; registryHost: string }> = ({ v, robot, registryHost }) => {
  const { t } = v.i18n;
  return (
    <div class="card secret-once" role="status">
      <h3>{t('robots.created', { name: robot.name })}</h3>
      <p>{t('account.secretOnce')}</p>
      <p>
        <code class="secret" data-copy="" data-copy-label={t('common.copy')} data-copied-label={t('common.copied')}>
          {robot.secret}
        </code>
      </p>
      <p>
        <code>{`docker login ${registryHost} -u '${robot.name}'`}</code>
      </p>
    </div>
  );
};
