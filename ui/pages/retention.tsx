import type { FC } from 'hono/jsx';
import { ErrorBox, ListTable, Notice, PostForm, ShortDigest, Time } from '../components/common';
import { Layout } from '../components/layout';
import { ProjectTabs } from '../components/project-tabs';
import type { View } from '../view';
import { formatBytes } from '../../src/storage/gates';
import { KEEP_KINDS } from '../../src/storage/retention-plan';
import type { RetentionExecutionView } from '../../src/storage/retention';
import { StatusBadge } from './policies';

/** One rule row of the form as typed, so that a refused form comes back as it was. */
export interface RuleDraft {
  repositories: string;
  tags: string;
  keep: string;
  n: string;
}

export interface RetentionDraft {
  rules: RuleDraft[];
  untagged: string;
  cron: string;
}

/** Empty rows the form offers below the rules, so that rules can be added without JavaScript. */
export const EMPTY_RULE_ROWS = 3;
export const EMPTY_RULE: RuleDraft = { repositories: '', tags: '', keep: 'latestPushed', n: '' };

export const retentionPath = (project: string) => `/projects/${encodeURIComponent(project)}/retention`;

const RuleRow: FC<{ v: View; i: number; rule: RuleDraft }> = ({ v, i, rule }) => {
  const { t } = v.i18n;
  return (
    <tr data-rule={i}>
      <td>
        <input name={`repositories_${i}`} value={rule.repositories} placeholder="**" aria-label={t('retention.repositories')} spellcheck={false} />
      </td>
      <td>
        <input name={`tags_${i}`} value={rule.tags} placeholder="*" aria-label={t('retention.tags')} spellcheck={false} />
      </td>
      <td>
        <select name={`keep_${i}`} aria-label={t('retention.keep')}>
          {KEEP_KINDS.map((k) => (
            <option value={k} selected={rule.keep === k}>
              {t(`retention.keep.${k}`)}
            </option>
          ))}
        </select>
      </td>
      <td>
        <input name={`n_${i}`} value={rule.n} inputmode="numeric" size={6} aria-label={t('retention.n')} />
      </td>
    </tr>
  );
};

export const RetentionPage: FC<{
  v: View;
  project: string;
  draft: RetentionDraft;
  executions: RetentionExecutionView[];
  error?: string | null;
  notice?: string | null;
}> = ({ v, project, draft, executions, error, notice }) => {
  const { t } = v.i18n;
  const base = retentionPath(project);
  const rows = [...draft.rules, ...Array.from({ length: EMPTY_RULE_ROWS }, () => EMPTY_RULE)];
  return (
    <Layout v={v} title={`${project} · ${t('retention.title')}`} nav="projects">
      <div class="page-head">
        <h1>{project}</h1>
      </div>
      <ProjectTabs v={v} project={project} here="retention" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      <section class="card">
        <h2>{t('retention.title')}</h2>
        <p class="muted">{t('retention.intro')}</p>
        <PostForm v={v} action={base}>
          <input type="hidden" name="rows" value={String(rows.length)} />
          <table class="list retention-rules">
            <thead>
              <tr>
                <th>{t('retention.repositories')}</th>
                <th>{t('retention.tags')}</th>
                <th>{t('retention.keep')}</th>
                <th>{t('retention.n')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((rule, i) => (
                <RuleRow v={v} i={i} rule={rule} />
              ))}
            </tbody>
          </table>
          <p class="muted small-text">{t('retention.rowHelp')}</p>
          <div class="form-grid">
            <label>
              {t('retention.untagged')}
              <select name="untagged">
                {(['keep', 'delete'] as const).map((u) => (
                  <option value={u} selected={draft.untagged === u}>
                    {t(`retention.untagged.${u}`)}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('retention.cron')}
              <input name="cron" value={draft.cron} placeholder="0 4 * * *" spellcheck={false} />
            </label>
          </div>
          <div class="form-buttons">
            <button type="submit">{t('retention.save')}</button>
          </div>
        </PostForm>
      </section>
      <section class="card">
        <div class="page-head">
          <h2>{t('retention.executions')}</h2>
          <div class="head-actions">
            <PostForm v={v} action={`${base}/executions`} class="row-form">
              <input type="hidden" name="dryRun" value="true" />
              <button type="submit" class="secondary">
                {t('retention.dryRun')}
              </button>
            </PostForm>
            <PostForm v={v} action={`${base}/executions`} class="row-form">
              <input type="hidden" name="dryRun" value="false" />
              <button type="submit" class="danger">
                {t('retention.run')}
              </button>
            </PostForm>
          </div>
        </div>
        <ListTable
          items={executions}
          empty={t('retention.noExecutions')}
          head={
            <>
              <th>#</th>
              <th>{t('retention.status')}</th>
              <th>{t('retention.trigger')}</th>
              <th>{t('retention.deletedCount')}</th>
              <th>{t('retention.kept')}</th>
              <th>{t('retention.bytesReclaimable')}</th>
              <th>{t('retention.startedAt')}</th>
              <th>{t('retention.finishedAt')}</th>
            </>
          }
          row={(e) => (
            <tr data-execution={e.id}>
              <td>
                <a href={`${base}/executions/${e.id}`}>{e.id}</a>
              </td>
              <td>
                <StatusBadge v={v} status={e.status} /> <span class="muted">{t(e.dryRun ? 'retention.kind.dry' : 'retention.kind.real')}</span>
              </td>
              <td>{e.trigger}</td>
              <td>{e.deletedCount}</td>
              <td>{e.kept}</td>
              <td>{formatBytes(e.bytesReclaimable)}</td>
              <td>
                <Time v={v} iso={e.startedAt} />
              </td>
              <td>
                <Time v={v} iso={e.finishedAt} />
              </td>
            </tr>
          )}
        />
      </section>
    </Layout>
  );
};

export const RetentionExecutionPage: FC<{ v: View; project: string; execution: RetentionExecutionView }> = ({ v, project, execution: e }) => {
  const { t } = v.i18n;
  const title = t('retention.execution', { id: e.id });
  return (
    <Layout v={v} title={`${project} · ${title}`} nav="projects" refreshSeconds={e.finishedAt ? undefined : 5}>
      <p class="crumbs">
        <a href={retentionPath(project)}>{t('retention.back')}</a>
      </p>
      <div class="page-head">
        <h1>{title}</h1>
      </div>
      <ProjectTabs v={v} project={project} here="retention" />
      <ErrorBox message={e.error} />
      <section class="card">
        <dl class="facts">
          <dt>{t('retention.status')}</dt>
          <dd>
            <StatusBadge v={v} status={e.status} /> <span class="muted">{t(e.dryRun ? 'retention.kind.dry' : 'retention.kind.real')}</span>
          </dd>
          <dt>{t('retention.deletedCount')}</dt>
          <dd data-deleted-count={e.deletedCount}>{e.deletedCount}</dd>
          <dt>{t('retention.kept')}</dt>
          <dd>{e.kept}</dd>
          <dt>{t('retention.bytesReclaimable')}</dt>
          <dd data-bytes={e.bytesReclaimable}>{formatBytes(e.bytesReclaimable)}</dd>
          <dt>{t('retention.startedAt')}</dt>
          <dd>
            <Time v={v} iso={e.startedAt} />
          </dd>
          <dt>{t('retention.finishedAt')}</dt>
          <dd>
            <Time v={v} iso={e.finishedAt} />
          </dd>
        </dl>
      </section>
      <section class="card">
        <h2>{t(e.dryRun ? 'retention.wouldDelete' : 'retention.deleted')}</h2>
        <ListTable
          items={e.deleted}
          empty={t('retention.none')}
          head={
            <>
              <th>{t('retention.repository')}</th>
              <th>{t('retention.tag')}</th>
              <th>{t('retention.digest')}</th>
            </>
          }
          row={(d) => (
            <tr>
              <td class="wrap">
                <code>{d.repository}</code>
              </td>
              <td class="wrap">
                <code>{d.tag}</code>
              </td>
              <td>
                <ShortDigest digest={d.digest} />
              </td>
            </tr>
          )}
        />
      </section>
      {e.deletedUntagged.length > 0 ? (
        <section class="card">
          <h2>{t('retention.deletedUntagged')}</h2>
          <ListTable
            items={e.deletedUntagged}
            head={
              <>
                <th>{t('retention.repository')}</th>
                <th>{t('retention.digest')}</th>
              </>
            }
            row={(d) => (
              <tr>
                <td class="wrap">
                  <code>{d.repository}</code>
                </td>
                <td>
                  <ShortDigest digest={d.digest} />
                </td>
              </tr>
            )}
          />
        </section>
      ) : null}
      {e.skipped.length + e.skippedImmutable.length > 0 ? (
        <section class="card">
          <h2>{t('retention.skipped')}</h2>
          <ListTable
            items={[...e.skippedImmutable.map((s) => ({ ...s, reason: 'immutable' })), ...e.skipped]}
            head={
              <>
                <th>{t('retention.repository')}</th>
                <th>{t('retention.tag')}</th>
                <th>{t('retention.reason')}</th>
              </>
            }
            row={(s) => (
              <tr>
                <td class="wrap">
                  <code>{s.repository}</code>
                </td>
                <td class="wrap">{s.tag ? <code>{s.tag}</code> : <ShortDigest digest={s.digest} />}</td>
                <td>{s.reason}</td>
              </tr>
            )}
          />
        </section>
      ) : null}
    </Layout>
  );
};
