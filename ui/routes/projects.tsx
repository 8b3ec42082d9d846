import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { assertProjectName, createProjectReportingLeftovers, listProjects, repositoryCount } from '../../src/access/projects';
import { CreateProjectSchema } from '../../src/access/schemas';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { ProjectsPage } from '../pages/projects';
import { UI_PAGE_SIZE } from '../view';
import { errorText, statusOf } from './page-errors';
import { field, formInput, formOf, noticeOf, pageOf, queryText, render, signedInUser, view } from './request';

/** The list of projects and the form that creates one. */
export function projectsPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const projectsPage = async (c: AppContext, extra: { error?: string; draft?: { name: string; public: boolean }; status?: ContentfulStatusCode } = {}) => {
    const { db } = c.var.deps;
    const v = view(c, extra.error ? '/projects' : undefined);
    const q = queryText(c, 'q');
    const page = pageOf(c);
    const { items, total } = await listProjects(ctxOf(c), { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    const rows = [];
    for (const { project, role } of items)
      rows.push({
        name: project.name,
        public: project.public,
        role,
        createdBy: project.createdBy,
        createdAt: project.createdAt,
        repositoryCount: await repositoryCount(db, project.id),
      });
    return render(
      c,
      <ProjectsPage v={v} items={rows} total={total} q={q} page={page} pageSize={UI_PAGE_SIZE} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />,
      extra.status,
    );
  };

  ui.get('/projects', (c) => projectsPage(c));

  ui.post('/projects', async (c) => {
    signedInUser(c);
    const form = await formOf(c);
    const draft = { name: field(form, 'name').trim(), public: field(form, 'public') === 'true' };
    let leftovers: string[] | null;
    try {
      const input = formInput(CreateProjectSchema, draft, { name: () => assertProjectName(draft.name) });
      leftovers = (await createProjectReportingLeftovers(ctxOf(c), input)).leftoverRepositories;
    } catch (err) {
      return projectsPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect(`/projects/${encodeURIComponent(draft.name)}?done=${leftovers?.length ? 'projectCreatedLeftovers' : 'projectCreated'}`, 303);
  });

  return ui;
}
