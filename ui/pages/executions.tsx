import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, PostForm, ShortDigest, Time } from '../components/common';
import { Layout } from '../components/layout';
import { ReplicationTabs } from '../components/replication-tabs';
import type { View } from '../view';
import { EXECUTION_STATUSES, executionView, TASK_STATUSES, taskView } from '../../src/api/replication-executions';
import { policyPath, StatusBadge } from './policies';

/** An execution and a task as the API shows them. */
export type ExecutionRow = ReturnType<typeof executionView>;
export type TaskRow = ReturnType<typeof taskView>;
export { EXECUTION_STATUSES, TASK_STATUSES };

const REASONS = ['dry_run', 'exists', 'override_off', 'immutable'] as const;
const TRIGGERS = ['manual', 'event', 'cron', 'creation', 'schedule'] as const;

export const executionPath = (id: number) => `/replication/executions/${id}`;
const finished = (e: ExecutionRow) => e.finishedAt !== null;

const Bytes: FC<{ v: View; n: number }> = ({ v, n }) => <span class="num">{v.i18n.bytes(n)}</span>;

const TriggerName: FC<{ v: View; trigger: string }> = ({ v, trigger }) => (
  <>{(TRIGGERS as readonly string[]).includes(trigger) ? v.i18n.t(`executions.trigger.${trigger as (typeof TRIGGERS)[number]}`) : trigger}</>
);

/** total, then each outcome that has tasks. */
export const Progress: FC<{ v: View; e: ExecutionRow }> = ({ v, e }) => {
  const { t } = v.i18n;
  return (
    <span class="progress" data-progress={`${e.succeeded}/${e.failed}/${e.skipped}/${e.total}`}>
      <span>{t('executions.progressTotal', { count: e.total })}</span>
      {e.succeeded ? <span>{t('executions.progressSucceeded', { count: e.succeeded })}</span> : null}
      {e.failed ? <span class="bad-text">{t('executions.progressFailed', { count: e.failed })}</span> : null}
      {e.skipped ? <span>{t('executions.progressSkipped', { count: e.skipped })}</span> : null}
      {e.pending + e.running ? <span>{t('executions.progressLeft', { count: e.pending + e.running })}</span> : null}
      {e.stopped ? <span>{t('executions.progressStopped', { count: e.stopped })}</span> : null}
    </span>
  );
};

/** The executions table, on the executions page and on a policy's page. */
export const ExecutionTable: FC<{ v: View; items: ExecutionRow[]; showPolicy: boolean }> = ({ v, items, showPolicy }) => {
  const { t } = v.i18n;
  return (
    <ListTable
      items={items}
      empty={t('executions.none')}
      head={
        <>
          <th>{t('executions.id')}</th>
          {showPolicy ? <th>{t('policies.name')}</th> : null}
          <th>{t('executions.status')}</th>
          <th>{t('policies.trigger')}</th>
          <th>{t('executions.progress')}</th>
          <th>{t('executions.bytes')}</th>
          <th>{t('executions.started')}</th>
          <th>{t('executions.finished')}</th>
        </>
      }
      row={(e) => (
        <tr data-execution={e.id}>
          <td>
            <a href={executionPath(e.id)}>#{e.id}</a>
          </td>
          {showPolicy ? <td>{e.policy ? <a href={policyPath(e.policy)}>{e.policy}</a> : <span class="muted">{t('common.none')}</span>}</td> : null}
          <td>
            <StatusBadge v={v} status={e.status} /> {e.dryRun ? <Badge kind="role">{t('executions.dryRun')}</Badge> : null}
          </td>
          <td>
            <TriggerName v={v} trigger={e.trigger} />
          </td>
          <td>
            <Progress v={v} e={e} />
          </td>
          <td>
            <Bytes v={v} n={e.bytes} />
          </td>
          <td>
            <Time v={v} iso={e.startedAt} />
          </td>
          <td>{finished(e) ? <Time v={v} iso={e.finishedAt} /> : <span class="muted">{t('executions.notYet')}</span>}</td>
        </tr>
      )}
    />
  );
};

/** A policy's run buttons and its newest executions, on its edit page. */
export const PolicyRuns: FC<{ v: View; policy: string; items: ExecutionRow[] }> = ({ v, policy, items }) => {
  const { t } = v.i18n;
  const run = `${policyPath(policy)}/run`;
  return (
    <section class="card">
      <h2>{t('policies.runs')}</h2>
      <div class="form-buttons">
        <PostForm v={v} action={run} class="row-form">
          <button type="submit">{t('policies.runNow')}</button>
        </PostForm>
        <PostForm v={v} action={run} class="row-form">
          <input type="hidden" name="dryRun" value="true" />
          <button type="submit" class="secondary">
            {t('policies.dryRun')}
          </button>
        </PostForm>
        <a href={`/replication/executions?policy=${encodeURIComponent(policy)}`} class="button secondary">
          {t('policies.allRuns')}
        </a>
      </div>
      <p class="muted small-text">{t('policies.dryRunHelp')}</p>
      <ExecutionTable v={v} items={items} showPolicy={false} />
    </section>
  );
};

export interface ExecutionsProps {
  v: View;
  items: ExecutionRow[];
  policies: string[];
  policy: string;
  status: string;
  /** The `before` of the next (older) page, null on the last. */
  older: number | null;
  newestFirst: boolean;
}

export const ExecutionsPage: FC<ExecutionsProps> = ({ v, items, policies, policy, status, older, newestFirst }) => {
  const { t } = v.i18n;
  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams();
    if (policy) q.set('policy', policy);
    if (status) q.set('status', status);
    for (const [k, val] of Object.entries(extra)) q.set(k, val);
    return `/replication/executions?${q.toString()}`;
  };
  return (
    <Layout v={v} title={t('executions.title')} nav="replication">
      <h1>{t('executions.title')}</h1>
      <ReplicationTabs v={v} here="executions" />
      <form method="get" action="/replication/executions" class="filters">
        <label>
          {t('policies.name')}
          <select name="policy">
            <option value="">{t('executions.allPolicies')}</option>
            {policies.map((p) => (
              <option value={p} selected={p === policy}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('executions.status')}
          <select name="status">
            <option value="">{t('executions.anyStatus')}</option>
            {EXECUTION_STATUSES.map((s) => (
              <option value={s} selected={s === status}>
                {t(`execution.status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <div class="filter-buttons">
          <button type="submit" class="secondary">
            {t('executions.filter')}
          </button>
        </div>
      </form>
      <ExecutionTable v={v} items={items} showPolicy={true} />
      <nav class="pager" aria-label={t('pager.label')}>
        {newestFirst ? <span class="muted">{t('executions.newer')}</span> : <a href={query({})}>{t('executions.newest')}</a>}
        {older ? <a href={query({ before: String(older) })}>{t('executions.older')}</a> : <span class="muted">{t('executions.older')}</span>}
      </nav>
    </Layout>
  );
};

export interface ExecutionProps {
  v: View;
  execution: ExecutionRow;
  tasks: TaskRow[];
  status: string;
  /** The `after` of the next page of tasks, null on the last. */
  next: number | null;
  error?: string | null;
  notice?: string | null;
}

export const ExecutionPage: FC<ExecutionProps> = ({ v, execution: e, tasks, status, next, error, notice }) => {
  const { t } = v.i18n;
  const base = executionPath(e.id);
  const title = t('executions.one', { id: e.id });
  const counts: Record<string, number> = { pending: e.pending, running: e.running, succeeded: e.succeeded, failed: e.failed, skipped: e.skipped, stopped: e.stopped };
  return (
    <Layout v={v} title={title} nav="replication" refreshSeconds={finished(e) ? undefined : 3}>
      <p class="crumbs">
        <a href="/replication/executions">{t('executions.title')}</a>
        {e.policy ? (
          <>
            {' · '}
            <a href={policyPath(e.policy)}>{e.policy}</a>
          </>
        ) : null}
      </p>
      <div class="page-head">
        <h1>{title}</h1>
        <p>
          <StatusBadge v={v} status={e.status} /> {e.dryRun ? <Badge kind="role">{t('executions.dryRun')}</Badge> : null}
        </p>
      </div>
      <ErrorBox message={error} />
      <Notice message={notice} />
      {finished(e) ? null : <p class="muted small-text">{t('executions.refreshing')}</p>}
      <section class="card">
        <dl class="facts">
          <dt>{t('policies.trigger')}</dt>
          <dd>
            <TriggerName v={v} trigger={e.trigger} />
            {e.createdBy ? ` · ${e.createdBy}` : ''}
          </dd>
          <dt>{t('executions.progress')}</dt>
          <dd>
            <Progress v={v} e={e} />
          </dd>
          <dt>{t('executions.bytes')}</dt>
          <dd>
            <Bytes v={v} n={e.bytes} />
          </dd>
          <dt>{t('executions.started')}</dt>
          <dd>
            <Time v={v} iso={e.startedAt} />
          </dd>
          <dt>{t('executions.finished')}</dt>
          <dd>{finished(e) ? <Time v={v} iso={e.finishedAt} /> : <span class="muted">{t('executions.notYet')}</span>}</dd>
          {e.error ? (
            <>
              <dt>{t('tasks.error')}</dt>
              <dd>
                <pre class="error-text">{e.error}</pre>
              </dd>
            </>
          ) : null}
        </dl>
        <div class="form-buttons">
          {finished(e) ? null : (
            <PostForm v={v} action={`${base}/stop`} class="row-form">
              <button type="submit" class="danger">
                {t('executions.stop')}
              </button>
            </PostForm>
          )}
          {finished(e) && e.failed + e.stopped > 0 ? (
            <PostForm v={v} action={`${base}/retry`} class="row-form">
              <button type="submit">{t('executions.retry')}</button>
            </PostForm>
          ) : null}
        </div>
      </section>
      <h2>{t('tasks.title')}</h2>
      <nav class="tabs" aria-label={t('tasks.filter')}>
        <a href={base} class={status ? undefined : 'active'} aria-current={status ? undefined : 'page'}>
          {t('tasks.all', { count: e.total })}
        </a>
        {TASK_STATUSES.map((s) => (
          <a href={`${base}?status=${s}`} class={s === status ? 'active' : undefined} aria-current={s === status ? 'page' : undefined}>
            {`${t(`execution.status.${s}`)} (${v.i18n.number(counts[s] ?? 0)})`}
          </a>
        ))}
      </nav>
      <ListTable
        items={tasks}
        class="task-list"
        empty={t('tasks.none')}
        head={
          <>
            <th>{t('tasks.operation')}</th>
            <th>{t('tasks.source')}</th>
            <th>{t('tasks.destination')}</th>
            <th>{t('executions.status')}</th>
            <th>{t('tasks.attempts')}</th>
            <th>{t('executions.bytes')}</th>
            <th>{t('executions.finished')}</th>
          </>
        }
        bodies={true}
        row={(task) => (
          <tbody data-task={task.id} data-status={task.status}>
            <tr>
              <td data-label={t('tasks.operation')}>{t(`tasks.operation.${task.operation as 'copy'}`)}</td>
              <td class="wrap" data-label={t('tasks.source')}>
                <code>{`${task.repository}:${task.tag}`}</code> {task.digest ? <ShortDigest digest={task.digest} /> : null}
              </td>
              <td class="wrap" data-label={t('tasks.destination')}>
                <code>{task.destination}</code>
              </td>
              <td data-label={t('executions.status')}>
                <StatusBadge v={v} status={task.status} />
                {task.reason ? (
                  <span class="small-text muted">
                    {' '}
                    {(REASONS as readonly string[]).includes(task.reason) ? t(`tasks.reason.${task.reason as (typeof REASONS)[number]}`) : task.reason}
                  </span>
                ) : null}
              </td>
              <td class="num" data-label={t('tasks.attempts')}>
                {task.attempts}
              </td>
              <td data-label={t('executions.bytes')}>
                <Bytes v={v} n={task.bytes} />
              </td>
              <td data-label={t('executions.finished')}>
                <Time v={v} iso={task.finishedAt} />
              </td>
            </tr>
            {task.error ? (
              <tr class="task-error">
                <td colspan={7}>
                  <pre class="error-text">{task.error}</pre>
                </td>
              </tr>
            ) : null}
          </tbody>
        )}
      />
      {next ? (
        <nav class="pager" aria-label={t('pager.label')}>
          <a href={`${base}?${new URLSearchParams({ ...(status ? { status } : {}), after: String(next) }).toString()}`}>{t('tasks.more')}</a>
        </nav>
      ) : null}
    </Layout>
  );
};
