import type { Child, FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, PostForm, ShortDigest } from '../components/common';
import { Layout } from '../components/layout';
import { ReplicationTabs } from '../components/replication-tabs';
import type { View } from '../view';
import type { PlannedTask } from '../../src/replication/plan';
import type { PolicyPreview, PolicyView } from '../../src/replication/policies';

/** The policy form as typed: text for every field, so that a refused form comes back as it was. */
export interface PolicyDraft {
  name: string;
  direction: string;
  registry: string;
  project: string;
  repositories: string;
  excludeRepositories: string;
  tags: string;
  excludeTags: string;
  destination: string;
  override: boolean;
  deletions: boolean;
  triggerType: string;
  cron: string;
  replicateExisting: boolean;
  enabled: boolean;
  concurrency: string;
  bandwidthKBps: string;
  description: string;
}

export const NEW_POLICY_DRAFT: PolicyDraft = {
  name: '',
  direction: 'push',
  registry: '',
  project: '',
  repositories: '',
  excludeRepositories: '',
  tags: '',
  excludeTags: '',
  destination: '',
  override: true,
  deletions: false,
  triggerType: 'manual',
  cron: '',
  replicateExisting: true,
  enabled: true,
  concurrency: '4',
  bandwidthKBps: '',
  description: '',
};

export const policyDraftOf = (p: PolicyView): PolicyDraft => ({
  name: p.name,
  direction: p.direction,
  registry: p.registry,
  project: p.project,
  repositories: p.filters.repositories.join('\n'),
  excludeRepositories: p.filters.excludeRepositories.join('\n'),
  tags: p.filters.tags.join('\n'),
  excludeTags: p.filters.excludeTags.join('\n'),
  // The stored destination only: the default (the project's name) is shown as the placeholder.
  destination: p.destination && p.destination !== p.project ? p.destination : '',
  override: p.override,
  deletions: p.deletions,
  triggerType: p.trigger.type,
  cron: p.trigger.cron ?? '',
  replicateExisting: p.replicateExisting,
  enabled: p.enabled,
  concurrency: String(p.concurrency),
  bandwidthKBps: p.bandwidthKBps === null ? '' : String(p.bandwidthKBps),
  description: p.description ?? '',
});

export const policyPath = (name: string) => `/replication/policies/${encodeURIComponent(name)}`;

/** Status of an execution as a badge, in the visitor's language. */
export const StatusBadge: FC<{ v: View; status: string }> = ({ v, status }) => {
  const kind = status === 'succeeded' ? 'ok' : status === 'failed' ? 'bad' : status === 'stopped' || status === 'skipped' ? 'warn' : 'role';
  return <Badge kind={kind}>{v.i18n.t(`execution.status.${status as 'succeeded'}`)}</Badge>;
};

export interface PolicyRowView extends PolicyView {
  /** Status of its newest execution, null before the first. */
  lastStatus?: string | null;
}

export const PoliciesPage: FC<{ v: View; items: PolicyRowView[]; error?: string | null; notice?: string | null }> = ({ v, items, error, notice }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('policies.title')} nav="replication">
      <div class="page-head">
        <h1>{t('policies.title')}</h1>
        <a href="/replication/new-policy" class="button">
          {t('policies.new')}
        </a>
      </div>
      <ReplicationTabs v={v} here="policies" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      <ListTable
        items={items}
        empty={t('policies.none')}
        head={
          <>
            <th>{t('policies.name')}</th>
            <th>{t('policies.direction')}</th>
            <th>{t('policies.registry')}</th>
            <th>{t('policies.project')}</th>
            <th>{t('policies.trigger')}</th>
            <th>{t('policies.enabled')}</th>
            <th>{t('policies.lastExecution')}</th>
            <th>{t('common.actions')}</th>
          </>
        }
        row={(p) => (
          <tr data-policy={p.name}>
            <td>
              <a href={policyPath(p.name)}>{p.name}</a>
            </td>
            <td>{t(`policies.direction.${p.direction}`)}</td>
            <td>{p.registry}</td>
            <td>{p.project}</td>
            <td>
              {t(`policies.trigger.${p.trigger.type}`)} {p.trigger.cron ? <code>{p.trigger.cron}</code> : null}
            </td>
            <td>{p.enabled ? <Badge kind="ok">{t('policies.on')}</Badge> : <Badge kind="disabled">{t('policies.off')}</Badge>}</td>
            <td>{p.lastStatus ? <StatusBadge v={v} status={p.lastStatus} /> : <span class="muted">{t('common.never')}</span>}</td>
            <td class="actions">
              <PolicyToggle v={v} policy={p} />
              <a href={policyPath(p.name)} class="button secondary small">
                {t('policies.edit')}
              </a>
            </td>
          </tr>
        )}
      />
    </Layout>
  );
};

export const PolicyToggle: FC<{ v: View; policy: PolicyView }> = ({ v, policy }) => (
  <PostForm v={v} action={`${policyPath(policy.name)}/enabled`} class="row-form">
    <input type="hidden" name="enabled" value={policy.enabled ? 'false' : 'true'} />
    <button type="submit" class="secondary small">
      {policy.enabled ? v.i18n.t('policies.disable') : v.i18n.t('policies.enable')}
    </button>
  </PostForm>
);

const GlobField: FC<{ v: View; name: keyof PolicyDraft; label: string; draft: PolicyDraft }> = ({ name, label, draft }) => (
  <label>
    {label}
    <textarea name={name} rows={3} spellcheck={false}>
      {String(draft[name])}
    </textarea>
  </label>
);

const PreviewTable: FC<{ v: View; preview: PolicyPreview }> = ({ v, preview }) => {
  const { t } = v.i18n;
  return (
    <section class="card" data-preview-total={preview.total}>
      <h2>{t('policies.previewTitle')}</h2>
      <p>{t('policies.previewCount', { count: preview.total, shown: preview.items.length })}</p>
      <TaskList v={v} items={preview.items} />
    </section>
  );
};

export const TaskList: FC<{ v: View; items: PlannedTask[] }> = ({ v, items }) => {
  const { t } = v.i18n;
  return (
    <ListTable
      items={items}
      empty={t('policies.previewNone')}
      head={
        <>
          <th>{t('tasks.operation')}</th>
          <th>{t('tasks.source')}</th>
          <th>{t('tasks.destination')}</th>
        </>
      }
      row={(task) => (
        <tr>
          <td>{t(`tasks.operation.${task.operation}`)}</td>
          <td class="wrap">
            <code>{`${task.repository}:${task.tag}`}</code> {task.digest ? <ShortDigest digest={task.digest} /> : null}
          </td>
          <td class="wrap">
            <code>{task.destination}</code>
          </td>
        </tr>
      )}
    />
  );
};

export interface PolicyFormProps {
  v: View;
  /** The stored policy on the edit page; null on the create page. */
  policy: PolicyView | null;
  draft: PolicyDraft;
  registries: string[];
  preview?: PolicyPreview | null;
  error?: string | null;
  notice?: string | null;
  /** What the edit page shows under the form: run buttons, executions. */
  children?: Child;
}

/** Create and edit: every field of the API, a filter preview, and (on edit) delete. */
export const PolicyFormPage: FC<PolicyFormProps> = ({ v, policy, draft, registries, preview, error, notice, children }) => {
  const { t } = v.i18n;
  const title = policy ? policy.name : t('policies.new');
  const action = policy ? policyPath(policy.name) : '/replication/policies';
  return (
    <Layout v={v} title={title} nav="replication">
      <p class="crumbs">
        <a href="/replication/policies">{t('policies.title')}</a>
      </p>
      <div class="page-head">
        <h1>{title}</h1>
        {policy ? (
          <div class="head-actions">
            {policy.enabled ? <Badge kind="ok">{t('policies.on')}</Badge> : <Badge kind="disabled">{t('policies.off')}</Badge>}
            <PolicyToggle v={v} policy={policy} />
          </div>
        ) : null}
      </div>
      <ReplicationTabs v={v} here="policies" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      {children}
      <section class="card">
        <h2>{policy ? t('policies.editTitle') : t('policies.createTitle')}</h2>
        <PostForm v={v} action={action}>
          <div class="form-grid">
            {policy ? null : (
              <>
                <label>
                  {t('policies.name')}
                  <input name="name" required maxlength={128} autocomplete="off" value={draft.name} />
                </label>
                <label>
                  {t('policies.direction')}
                  <select name="direction">
                    {(['push', 'pull'] as const).map((d) => (
                      <option value={d} selected={draft.direction === d}>
                        {t(`policies.direction.${d}`)}
                      </option>
                    ))}
                  </select>
                </label>
              </>
            )}
            <label>
              {t('policies.registry')}
              <select name="registry" required>
                {registries.length === 0 ? <option value="">{t('registries.none')}</option> : null}
                {registries.map((r) => (
                  <option value={r} selected={draft.registry === r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('policies.project')}
              <input name="project" required maxlength={300} autocomplete="off" value={draft.project} />
            </label>
            <GlobField v={v} name="repositories" label={t('policies.repositories')} draft={draft} />
            <GlobField v={v} name="excludeRepositories" label={t('policies.excludeRepositories')} draft={draft} />
            <GlobField v={v} name="tags" label={t('policies.tags')} draft={draft} />
            <GlobField v={v} name="excludeTags" label={t('policies.excludeTags')} draft={draft} />
            <p class="wide muted small-text">{t('policies.globHelp')}</p>
            {draft.direction === 'push' ? (
              <label>
                {t('policies.destination')}
                <input name="destination" maxlength={300} autocomplete="off" value={draft.destination} placeholder={draft.project || t('policies.destinationDefault')} />
              </label>
            ) : null}
            <label>
              {t('policies.trigger')}
              <select name="triggerType">
                {(['manual', 'event', 'cron'] as const).map((k) => (
                  <option value={k} selected={draft.triggerType === k}>
                    {t(`policies.trigger.${k}`)}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('policies.cron')}
              <input name="cron" maxlength={256} autocomplete="off" value={draft.cron} placeholder="0 3 * * *" />
            </label>
            <label>
              {t('policies.concurrency')}
              <input name="concurrency" type="number" min={1} max={16} value={draft.concurrency} />
            </label>
            <label>
              {t('policies.bandwidth')}
              <input name="bandwidthKBps" type="number" min={1} value={draft.bandwidthKBps} placeholder={t('policies.noLimit')} />
            </label>
            <label class="check">
              <input type="checkbox" name="override" value="true" checked={draft.override} />
              {t('policies.override')}
            </label>
            {draft.direction === 'push' ? (
              <label class="check">
                <input type="checkbox" name="deletions" value="true" checked={draft.deletions} />
                {t('policies.deletions')}
              </label>
            ) : null}
            <label class="check">
              <input type="checkbox" name="replicateExisting" value="true" checked={draft.replicateExisting} />
              {t('policies.replicateExisting')}
            </label>
            <label class="check">
              <input type="checkbox" name="enabled" value="true" checked={draft.enabled} />
              {t('policies.enabled')}
            </label>
            <label class="wide">
              {t('policies.description')}
              <input name="description" maxlength={1000} autocomplete="off" value={draft.description} />
            </label>
          </div>
          <div class="form-buttons">
            <button type="submit" name="intent" value="save">
              {policy ? t('policies.save') : t('policies.create')}
            </button>
            <button type="submit" name="intent" value="preview" class="secondary">
              {t('policies.preview')}
            </button>
            {policy ? (
              <a href={`${policyPath(policy.name)}/delete`} class="button danger">
                {t('policies.delete')}
              </a>
            ) : null}
          </div>
        </PostForm>
      </section>
      {preview ? <PreviewTable v={v} preview={preview} /> : null}
    </Layout>
  );
};
