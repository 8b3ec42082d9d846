import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { badRequest } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { getRules, setRules } from '../../src/storage/immutability';
import type { GlobRule } from '../../src/storage/rules';
import { ImmutabilityPage } from '../pages/immutability';
import { errorText, statusOf } from './page-errors';
import { field, formOf, render, signedInUser, view } from './request';

const DONE = { added: 'immutability.added', removed: 'immutability.removed' } as const;

/** A project's immutability rules (projectAdmin): list, add one, remove one. */
export function immutabilityPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const pathOf = (project: string) => `/projects/${encodeURIComponent(project)}/immutability`;

  const page = async (c: AppContext, project: string, extra: { error?: string; status?: ContentfulStatusCode; draft?: GlobRule } = {}) => {
    const v = view(c, extra.error ? pathOf(project) : undefined);
    const { rules } = await getRules(ctxOf(c), project);
    const done = c.req.query('done') ?? '';
    const notice = Object.hasOwn(DONE, done) ? v.i18n.t(DONE[done as keyof typeof DONE]) : null;
    return render(c, <ImmutabilityPage v={v} project={project} rules={rules} error={extra.error} notice={extra.error ? null : notice} draft={extra.draft} />, extra.status);
  };

  ui.get('/projects/:project/immutability', (c) => {
    signedInUser(c);
    return page(c, c.req.param('project'));
  });

  /** Reads the rules, changes them, writes them back; a refusal is shown on the page (a missing project or no right: the error page). */
  const change = (path: string, edit: (rules: GlobRule[], form: { index: string; repositories: string; tags: string }) => GlobRule[], done: keyof typeof DONE) =>
    ui.post(path, async (c) => {
      signedInUser(c);
      const project = c.req.param('project')!;
      const form = await formOf(c);
      const fields = { index: field(form, 'index'), repositories: field(form, 'repositories').trim(), tags: field(form, 'tags').trim() };
      const { rules } = await getRules(ctxOf(c), project);
      try {
        await setRules(ctxOf(c), project, { rules: edit(rules, fields) });
      } catch (err) {
        const status = statusOf(err);
        if (status === 403 || status === 404) throw err;
        return page(c, project, { error: errorText(view(c), err), status, ...(done === 'added' ? { draft: { repositories: fields.repositories, tags: fields.tags } } : {}) });
      }
      return c.redirect(`${pathOf(project)}?done=${done}`, 303);
    });

  change('/projects/:project/immutability/add', (rules, f) => [...rules, { repositories: f.repositories, tags: f.tags }], 'added');
  change(
    '/projects/:project/immutability/remove',
    (rules, f) => {
      const i = Number(f.index);
      const rule = Number.isInteger(i) ? rules[i] : undefined;
      // The rule shown when the page was drawn: another change since then makes the index point elsewhere.
      if (!rule || rule.repositories !== f.repositories || rule.tags !== f.tags) throw badRequest('form.nothingToChange');
      return rules.filter((_, j) => j !== i);
    },
    'removed',
  );

  return ui;
}
