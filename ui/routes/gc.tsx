import { Hono } from 'hono';
import { notFound } from '../../src/errors';
import { ctxOf, type AppEnv, type AppContext } from '../../src/http/env';
import { GC_COMMAND, gcSchedule, getGcRun, listGcRuns, setGcScheduleOf, startGc } from '../../src/storage/gc';
import { GcPage, GcRunPage } from '../pages/gc';
import { errorText, statusOf } from './page-errors';
import { adminUser, field, formOf, render, view } from './request';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

const DONE = { started: 'gc.startedNotice', scheduled: 'gc.scheduleSaved' } as const;

async function gcPage(c: AppContext, opts: { error?: string; status?: ContentfulStatusCode; cron?: string } = {}) {
  const v = view(c);
  const deps = c.var.deps;
  const schedule = await gcSchedule(deps.db);
  const done = c.req.query('done') ?? '';
  return render(
    c,
    <GcPage
      v={v}
      supervised={Boolean(deps.gcHost)}
      command={GC_COMMAND}
      runs={await listGcRuns(deps.db)}
      schedule={{ cron: opts.cron ?? schedule.cron ?? '', deleteUntagged: schedule.deleteUntagged }}
      notice={Object.hasOwn(DONE, done) ? v.i18n.t(DONE[done as keyof typeof DONE]) : null}
      error={opts.error ?? null}
    />,
    opts.status ?? 200,
  );
}

/** Garbage collection of the registry, for system admins. */
export function gcPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/system/gc', (c) => {
    adminUser(c);
    return gcPage(c);
  });

  ui.post('/system/gc', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    try {
      await startGc(ctxOf(c), { dryRun: field(form, 'dryRun') === 'true', deleteUntagged: field(form, 'deleteUntagged') === 'true', trigger: 'manual' });
    } catch (err) {
      return gcPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/system/gc?done=started', 303);
  });

  ui.post('/system/gc/schedule', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const cron = field(form, 'cron').trim();
    try {
      await setGcScheduleOf(ctxOf(c), { cron: cron === '' ? null : cron, deleteUntagged: field(form, 'deleteUntagged') === 'true' });
    } catch (err) {
      return gcPage(c, { error: errorText(view(c), err), status: statusOf(err), cron });
    }
    return c.redirect('/system/gc?done=scheduled', 303);
  });

  ui.get('/system/gc/:id{[0-9]{1,15}}', async (c) => {
    adminUser(c);
    const id = Number(c.req.param('id'));
    const run = await getGcRun(c.var.deps.db, id);
    if (!run) throw notFound('gc.notFound', { id });
    return render(c, <GcRunPage v={view(c)} run={run} />);
  });

  return ui;
}
