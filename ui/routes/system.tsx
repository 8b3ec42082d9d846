import { Hono } from 'hono';
import { lastReconcileReport, reconcileUnderway, startReconcile } from '../../src/artifacts/reconcile';
import { checkHealth } from '../../src/health';
import { ctxOf, type AppEnv } from '../../src/http/env';
import { SystemPage } from '../pages/system';
import { adminUser, field, formOf, noticeOf, pullHost, render, view } from './request';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppContext } from '../../src/http/env';
import { getReadOnly, setReadOnly } from '../../src/storage/read-only';
import { errorText, statusOf } from './page-errors';

/** Health, configuration and reconcile, for system admins. */
export function systemPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const systemPage = async (c: AppContext, extra: { error?: string; status?: ContentfulStatusCode } = {}) => {
    adminUser(c);
    const { reconciler, config, clock } = c.var.deps;
    const v = view(c);
    const { database, registry, ldap } = await checkHealth(c.var.deps);
    return render(
      c,
      <SystemPage
        v={v}
        health={{ database, registry, ldap }}
        facts={{ publicUrl: config.publicUrl, registryUrl: config.registry.url, registryHost: pullHost(c), defaultProject: config.defaultProject.name }}
        reconcile={{ running: reconciler.running || (await reconcileUnderway(c.var.deps.db)), last: await lastReconcileReport(c.var.deps.db) }}
        now={new Date(clock.now()).toISOString()}
        notice={noticeOf(c, v)}
        readOnly={await getReadOnly(c.var.deps)}
        error={extra.error}
      />,
      extra.status,
    );
  };

  ui.get('/system', (c) => systemPage(c));

  ui.post('/system/read-only', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    try {
      await setReadOnly(ctxOf(c), { readOnly: field(form, 'readOnly') === 'true', reason: field(form, 'reason') });
    } catch (err) {
      return systemPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/system?done=readOnlySaved', 303);
  });

  ui.post('/system/reconcile', async (c) => {
    adminUser(c);
    await startReconcile(ctxOf(c));
    return c.redirect('/system?done=reconcileStarted', 303);
  });

  return ui;
}
