import { Hono } from 'hono';
import { listAudit } from '../../src/audit/list';
import { auditScope } from '../../src/access/audit-scope';
import { ctxOf, type AppEnv } from '../../src/http/env';
import { AUDIT_ACTIONS, AuditPage, type AuditFilters } from '../pages/audit';
import { UI_PAGE_SIZE } from '../view';
import { pageOf, queryText, render, signedInUser, view } from './request';

/** The audit log, filtered; what each visitor may see is the service's to decide. */
export function auditPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/audit', async (c) => {
    signedInUser(c);
    const v = view(c);
    const filters: AuditFilters = {
      project: queryText(c, 'project', 128),
      repository: queryText(c, 'repository'),
      username: queryText(c, 'username', 256),
      action: queryText(c, 'action', 64),
      since: queryText(c, 'since', 32),
      until: queryText(c, 'until', 32),
    };
    let error: string | null = null;
    // The form's datetime-local fields carry no zone: they are read as UTC, as the page says.
    const instant = (value: string) => {
      if (!value) return undefined;
      const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) {
        error = v.i18n.t('audit.badDate', { value });
        return undefined;
      }
      return d.toISOString();
    };
    const page = pageOf(c);
    const applied = {
      project: filters.project || undefined,
      repository: filters.repository || undefined,
      username: filters.username || undefined,
      action: filters.action || undefined,
      since: instant(filters.since),
      until: instant(filters.until),
    };
    const { items, total } = await listAudit(c.var.deps.db, await auditScope(ctxOf(c)), { ...applied, page, pageSize: UI_PAGE_SIZE });
    // The export links carry the filters the list applied (times already UTC instants).
    const exportQuery = new URLSearchParams(Object.entries(applied).filter((e): e is [string, string] => e[1] !== undefined)).toString();
    if (filters.action && !(AUDIT_ACTIONS as readonly string[]).includes(filters.action)) filters.action = '';
    return render(c, <AuditPage v={v} filters={filters} items={items} total={total} page={page} pageSize={UI_PAGE_SIZE} error={error} exportQuery={exportQuery} />);
  });

  return ui;
}
