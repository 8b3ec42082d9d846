import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, Pager, PostForm, RoleName, SearchForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export interface ProjectRow {
  name: string;
  public: boolean;
  role: string | null;
  createdBy: string | null;
  createdAt: string;
  repositoryCount: number;
}

export interface ProjectsProps {
  v: View;
  items: ProjectRow[];
  total: number;
  q: string;
  page: number;
  pageSize: number;
  error?: string | null;
  notice?: string | null;
  /** Values of the create form after a refused attempt. */
  draft?: { name: string; public: boolean };
}

export const ProjectsPage: FC<ProjectsProps> = ({ v, items, total, q, page, pageSize, error, notice, draft }) => {
  const { t } = v.i18n;
  const signedIn = v.principal.kind === 'user';
  return (
    <Layout v={v} title={t('projects.title')} nav="projects">
      <div class="page-head">
        <h1>{t('projects.title')}</h1>
        <SearchForm v={v} action="/projects" id="project-q" q={q} label={t('projects.search')} placeholder={t('projects.searchPlaceholder')} maxlength={255} />
      </div>
      <ErrorBox message={error} />
      <Notice message={notice} />
      {q ? <p class="muted">{t('projects.resultsFor', { q, count: total })}</p> : null}
      <ListTable
        items={items}
        empty={q ? t('projects.noMatch') : t('projects.none')}
        head={
          <>
            <th>{t('projects.name')}</th>
            <th>{t('projects.visibility')}</th>
            {signedIn ? <th>{t('projects.yourRole')}</th> : null}
            <th class="num">{t('projects.repositories')}</th>
            <th>{t('projects.createdBy')}</th>
            <th>{t('projects.createdAt')}</th>
          </>
        }
        row={(p) => (
          <tr>
            <td>
              <a href={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</a>
            </td>
            <td>{p.public ? <Badge kind="public">{t('projects.public')}</Badge> : <Badge kind="private">{t('projects.private')}</Badge>}</td>
            {signedIn ? (
              <td>{p.role ? <RoleName v={v} role={p.role} /> : v.principal.admin ? t('users.admin') : <span class="muted">{t('role.none')}</span>}</td>
            ) : null}
            <td class="num">{v.i18n.number(p.repositoryCount)}</td>
            <td>{p.createdBy}</td>
            <td>
              <Time v={v} iso={p.createdAt} />
            </td>
          </tr>
        )}
      />
      <Pager v={v} path="/projects" query={{ q }} page={page} pageSize={pageSize} total={total} />
      {signedIn ? (
        <section class="card">
          <h2>{t('projects.create')}</h2>
          <PostForm v={v} action="/projects" class="inline-form">
            <label>
              {t('projects.name')}
              <input name="name" required maxlength={128} value={draft?.name ?? ''} />
            </label>
            <label class="check">
              <input type="checkbox" name="public" value="true" checked={draft?.public ?? false} />
              {t('projects.makePublic')}
            </label>
            <button type="submit">{t('projects.createButton')}</button>
          </PostForm>
          <p class="muted small-text">{t('projects.nameRule')}</p>
        </section>
      ) : (
        <p class="muted">{t('projects.signInToCreate')}</p>
      )}
    </Layout>
  );
};
