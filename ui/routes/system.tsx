import { Hono } from 'hono';
import { lastReconcileReport, reconcileUnderway, startReconcile } from '../../src/artifacts/reconcile';
import { checkHealth } from '../../src/health';
import { ctxOf, type AppEnv } from '../../src/http/env';
import { SystemPage } from '../pages/system';
import { adminUser, noticeOf, pullHost, render, view } from './request';

/** Health, configuration and reconcile, for system admins. */
export function systemPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/system', async (c) => {
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
      />,
    );
  });

  ui.post('/system/reconcile', async (c) => {
    adminUser(c);
    await startReconcile(ctxOf(c));
    return c.redirect('/system?done=reconcileStarted', 303);
  });

  return ui;
}
