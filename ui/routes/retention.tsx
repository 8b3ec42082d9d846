import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, notFound } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { getRetention, getRetentionExecution, listRetentionExecutions, RETENTION_RULES_MAX, setRetention, startRetention, type RetentionPolicyView } from '../../src/storage/retention';
import { EMPTY_RULE_ROWS, RetentionExecutionPage, RetentionPage, retentionPath, type RetentionDraft } from '../pages/retention';
import { errorText, statusOf } from './page-errors';
import { field, formOf, render, signedInUser, view, type Form } from './request';

/** Runs listed on the policy page; the API pages through the rest. */
const RUNS_SHOWN = 20;

const draftOf = (p: RetentionPolicyView): RetentionDraft => ({
  rules: p.rules.map((r) => ({ repositories: r.repositories, tags: r.tags, keep: r.keep, n: r.n === undefined ? '' : String(r.n) })),
  untagged: p.untagged,
  cron: p.cron ?? '',
});

/** The rule rows as typed; a row with both globs empty is left out. */
function formDraft(form: Form): RetentionDraft {
  const rows = Math.min(Number(field(form, 'rows')) || 0, RETENTION_RULES_MAX + EMPTY_RULE_ROWS);
  const rules = [];
  for (let i = 0; i < rows; i++) {
    const rule = { repositories: field(form, `repositories_${i}`).trim(), tags: field(form, `tags_${i}`).trim(), keep: field(form, `keep_${i}`), n: field(form, `n_${i}`).trim() };
    if (rule.repositories || rule.tags) rules.push(rule);
  }
  return { rules, untagged: field(form, 'untagged'), cron: field(form, 'cron').trim() };
}

/** The form as the service's input; the service checks every field as it does for the API. */
const inputOf = (d: RetentionDraft) => ({
  rules: d.rules.map((r) => ({ repositories: r.repositories, tags: r.tags, keep: r.keep, ...(r.n === '' ? {} : { n: Number(r.n) }) })),
  untagged: d.untagged,
  cron: d.cron || null,
});

const NOTICES = { saved: 'retention.saved', started: 'retention.started' } as const;

/** A project's retention policy: the rules form, dry runs and runs, and each run's deleted tags. */
export function retentionPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const policyPage = async (c: AppContext, name: string, extra: { draft?: RetentionDraft; error?: string; status?: ContentfulStatusCode } = {}) => {
    const ctx = ctxOf(c);
    const v = view(c, extra.error ? retentionPath(name) : undefined);
    const policy = await getRetention(ctx, name);
    const done = c.req.query('done') ?? '';
    const notice = Object.hasOwn(NOTICES, done) ? v.i18n.t(NOTICES[done as keyof typeof NOTICES]) : null;
    return render(
      c,
      <RetentionPage
        v={v}
        project={name}
        draft={extra.draft ?? draftOf(policy)}
        executions={await listRetentionExecutions(ctx, name, { limit: RUNS_SHOWN })}
        error={extra.error}
        notice={notice}
      />,
      extra.status,
    );
  };

  /** A refused form shows the page again with the reason (and the form as typed); other failures are error pages. */
  const refusedForm = async (c: AppContext, name: string, err: unknown, draft?: RetentionDraft) => {
    if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 409 && err.status !== 503)) throw err;
    return policyPage(c, name, { draft, error: errorText(view(c), err), status: statusOf(err) });
  };

  ui.get('/projects/:name/retention', (c) => {
    signedInUser(c);
    return policyPage(c, c.req.param('name'));
  });

  ui.post('/projects/:name/retention', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const draft = formDraft(await formOf(c));
    try {
      await setRetention(ctxOf(c), name, inputOf(draft));
    } catch (err) {
      return refusedForm(c, name, err, draft);
    }
    return c.redirect(`${retentionPath(name)}?done=saved`, 303);
  });

  ui.post('/projects/:name/retention/executions', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const dryRun = field(await formOf(c), 'dryRun') === 'true';
    try {
      const run = await startRetention(ctxOf(c), name, { dryRun });
      return c.redirect(`${retentionPath(name)}/executions/${run.id}`, 303);
    } catch (err) {
      return refusedForm(c, name, err);
    }
  });

  ui.get('/projects/:name/retention/executions/:id', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const id = Number(c.req.param('id'));
    if (!Number.isInteger(id) || id < 1 || id > 2_147_483_647) throw notFound('execution.notFound', { id: c.req.param('id') });
    const execution = await getRetentionExecution(ctxOf(c), name, id);
    return render(c, <RetentionExecutionPage v={view(c)} project={name} execution={execution} />);
  });

  return ui;
}
