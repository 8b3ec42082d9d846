import type { FC } from 'hono/jsx';
import { ErrorBox, ListTable, Notice, PostForm } from '../components/common';
import { Layout } from '../components/layout';
import { ProjectTabs } from '../components/project-tabs';
import type { View } from '../view';
import type { GlobRule } from '../../src/storage/rules';

export interface ImmutabilityProps {
  v: View;
  project: string;
  rules: GlobRule[];
  error?: string | null;
  notice?: string | null;
  draft?: GlobRule;
}

/** A project's immutable tags: the rules (a repository glob and a tag glob each), add one, remove one. */
export const ImmutabilityPage: FC<ImmutabilityProps> = ({ v, project, rules, error, notice, draft }) => {
  const { t } = v.i18n;
  const base = `/projects/${encodeURIComponent(project)}/immutability`;
  return (
    <Layout v={v} title={`${project} · ${t('immutability.title')}`} nav="projects">
      <h1>{project}</h1>
      <ProjectTabs v={v} project={project} here="immutability" />
      <h2>{t('immutability.title')}</h2>
      <p class="muted">{t('immutability.intro')}</p>
      <ErrorBox message={error} />
      <Notice message={notice} />
      <ListTable
        items={rules.map((rule, index) => ({ rule, index }))}
        empty={t('immutability.none')}
        head={
          <>
            <th>{t('immutability.repositories')}</th>
            <th>{t('immutability.tags')}</th>
            <th>{t('common.actions')}</th>
          </>
        }
        row={({ rule, index }) => (
          <tr data-rule={index}>
            <td>
              <code>{rule.repositories}</code>
            </td>
            <td>
              <code>{rule.tags}</code>
            </td>
            <td class="actions">
              <PostForm v={v} action={`${base}/remove`} class="row-form">
                <input type="hidden" name="index" value={String(index)} />
                <input type="hidden" name="repositories" value={rule.repositories} />
                <input type="hidden" name="tags" value={rule.tags} />
                <button type="submit" class="danger small">
                  {t('immutability.remove')}
                </button>
              </PostForm>
            </td>
          </tr>
        )}
      />
      <section class="card">
        <h2>{t('immutability.add')}</h2>
        <PostForm v={v} action={`${base}/add`}>
          <div class="form-grid">
            <label>
              {t('immutability.repositories')}
              <input name="repositories" required maxlength={1024} autocomplete="off" placeholder="**" value={draft?.repositories ?? ''} />
            </label>
            <label>
              {t('immutability.tags')}
              <input name="tags" required maxlength={1024} autocomplete="off" placeholder="release-*" value={draft?.tags ?? ''} />
            </label>
          </div>
          <div class="form-buttons">
            <button type="submit">{t('immutability.add')}</button>
          </div>
        </PostForm>
      </section>
    </Layout>
  );
};
