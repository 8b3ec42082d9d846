import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Pager, ShortDigest, Time } from '../components/common';
import { Layout } from '../components/layout';
import { AUDIT_ACTIONS, type AuditAction } from '../../src/audit/record';
import type { View } from '../view';

export { AUDIT_ACTIONS };

export const actionLabel = (v: View, action: string) =>
  (AUDIT_ACTIONS as readonly string[]).includes(action) ? v.i18n.t(`action.${action as AuditAction}`) : action;

export interface AuditFilters {
  project: string;
  repository: string;
  username: string;
  action: string;
  since: string;
  until: string;
}

export interface AuditRow {
  id: number;
  time: string;
  username: string;
  action: string;
  resource: string | null;
  project: string | null;
  repository: string | null;
  tag: string | null;
  digest: string | null;
  sourceIp: string | null;
  outcome: string;
  count: number;
}

/** The export's address for a format and the list's applied filters (a query string). */
const exportHref = (format: 'jsonl' | 'csv', query: string) => `/api/v1/audit/export?format=${format}${query ? `&${query}` : ''}`;

export const AuditPage: FC<{
  v: View;
  filters: AuditFilters;
  items: AuditRow[];
  total: number;
  page: number;
  pageSize: number;
  error?: string | null;
  exportQuery?: string;
}> = ({
  v,
  filters,
  items,
  total,
  page,
  pageSize,
  error,
  exportQuery = '',
}) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('audit.title')} nav="audit">
      <h1>{t('audit.title')}</h1>
      <form method="get" action="/audit" class="filters card">
        <label>
          {t('audit.project')}
          <input name="project" value={filters.project} maxlength={128} />
        </label>
        <label>
          {t('audit.repository')}
          <input name="repository" value={filters.repository} maxlength={255} />
        </label>
        <label>
          {t('audit.user')}
          <input name="username" value={filters.username} maxlength={256} />
        </label>
        <label>
          {t('audit.action')}
          <select name="action">
            <option value="">{t('audit.anyAction')}</option>
            {AUDIT_ACTIONS.map((a) => (
              <option value={a} selected={a === filters.action}>
                {actionLabel(v, a)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('audit.since')}
          <input type="datetime-local" name="since" value={filters.since} />
        </label>
        <label>
          {t('audit.until')}
          <input type="datetime-local" name="until" value={filters.until} />
        </label>
        <div class="filter-buttons">
          <button type="submit">{t('audit.apply')}</button>
          <a href="/audit" class="button secondary">
            {t('audit.reset')}
          </a>
        </div>
      </form>
      <p class="muted small-text">{t('audit.utcNote')}</p>
      <ErrorBox message={error} />
      <p class="muted">{t('audit.count', { count: total })}</p>
      <p class="audit-export">
        <a href={exportHref('jsonl', exportQuery)} class="button secondary small" download>
          {t('audit.exportJsonl')}
        </a>{' '}
        <a href={exportHref('csv', exportQuery)} class="button secondary small" download>
          {t('audit.exportCsv')}
        </a>{' '}
        <span class="muted small-text">{t('audit.exportNote')}</span>
      </p>
      <ListTable
        items={items}
        empty={t('audit.none')}
        class="audit"
        head={
          <>
            <th>{t('audit.time')}</th>
            <th>{t('audit.user')}</th>
            <th>{t('audit.action')}</th>
            <th>{t('audit.resource')}</th>
            <th>{t('audit.project')}</th>
            <th>{t('repository.digest')}</th>
            <th>{t('audit.sourceIp')}</th>
            <th>{t('audit.outcome')}</th>
          </>
        }
        row={(r) => (
          <tr>
            <td>
              <Time v={v} iso={r.time} />
            </td>
            <td>{r.username}</td>
            <td>
              {actionLabel(v, r.action)}
              {r.count > 1 ? <span class="muted"> ×{v.i18n.number(r.count)}</span> : null}
            </td>
            <td class="wrap">{r.resource}</td>
            <td>{r.project ?? ''}</td>
            <td>{r.digest ? <ShortDigest digest={r.digest} /> : null}</td>
            <td>{r.sourceIp ?? ''}</td>
            <td>
              {r.outcome === 'success' ? (
                <Badge kind="ok">{t('audit.success')}</Badge>
              ) : (
                <Badge kind="bad">{r.outcome === 'failure' ? t('audit.failure') : r.outcome}</Badge>
              )}
            </td>
          </tr>
        )}
      />
      <Pager v={v} path="/audit" query={{ ...filters }} page={page} pageSize={pageSize} total={total} />
    </Layout>
  );
};
