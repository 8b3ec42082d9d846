import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { executionView, replicationExecution, taskView } from '../../src/api/replication-executions';
import { AppError } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { listExecutions, listTasks, retryExecution, stopExecution, type ExecutionView, type TaskView } from '../../src/jobs/executions';
import { listPolicies } from '../../src/replication/policies';
import { REPLICATION_JOB, startPolicyExecution } from '../../src/replication/run';
import { policyRowByName } from '../../src/replication/store';
import { notFound } from '../../src/errors';
import { EXECUTION_STATUSES, ExecutionPage, ExecutionsPage, executionPath, PolicyRuns, TASK_STATUSES } from '../pages/executions';
import { errorText, statusOf } from './page-errors';
import type { PolicyExtras } from './policies';
import { adminUser, field, formOf, noticeOf, render, view } from './request';

const LIST = '/replication/executions';
const TASK_PAGE = 100;
const RECENT_RUNS = 10;

const oneOf = <T extends string>(values: readonly T[], value: string | undefined): T | undefined => (values as readonly string[]).includes(value ?? '') ? (value as T) : undefined;
const idOf = (text: string | undefined) => {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
};

async function policyId(c: AppContext, name: string): Promise<number> {
  const policy = await policyRowByName(c.var.deps.db, name);
  if (!policy) throw notFound('replication.notFound', { name });
  return policy.id;
}

/** A policy's page shows its run buttons and newest executions. */
export const policyRunsPanel: PolicyExtras = async (c, name) => {
  const items = await listExecutions(c.var.deps.db, { kind: REPLICATION_JOB, subjectId: await policyId(c, name), limit: RECENT_RUNS });
  return <PolicyRuns v={view(c)} policy={name} items={items.map(executionView)} />;
};

/** The status of each policy's newest execution, for the policies list. */
export async function lastStatuses(c: AppContext, names: string[]): Promise<Map<string, string>> {
  const { db } = c.var.deps;
  const found = await Promise.all(
    names.map(async (name) => {
      const policy = await policyRowByName(db, name);
      const [newest] = policy ? await listExecutions(db, { kind: REPLICATION_JOB, subjectId: policy.id, limit: 1 }) : [];
      return [name, newest?.status] as const;
    }),
  );
  return new Map(found.filter((f): f is [string, ExecutionView['status']] => f[1] !== undefined));
}

/** Replication executions, for system admins: run a policy now or as a dry run, follow, stop, retry; tasks by status. */
export function executionPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.post('/replication/policies/:name/run', async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    const policy = await policyRowByName(c.var.deps.db, name);
    if (!policy) throw notFound('replication.notFound', { name });
    const execution = await startPolicyExecution(ctxOf(c), policy, { trigger: 'manual', dryRun: field(form, 'dryRun') === 'true' });
    return c.redirect(`${executionPath(execution.id)}?done=executionStarted`, 303);
  });

  ui.get(LIST, async (c) => {
    adminUser(c);
    const v = view(c);
    const { db } = c.var.deps;
    const policy = (c.req.query('policy') ?? '').trim();
    const status = oneOf(EXECUTION_STATUSES, c.req.query('status'));
    const before = idOf(c.req.query('before'));
    const subjectId = policy ? await policyId(c, policy) : undefined;
    const page = await listExecutions(db, { kind: REPLICATION_JOB, subjectId, status, limit: 26, before });
    const items = page.slice(0, 25);
    const { items: policies } = await listPolicies(ctxOf(c));
    return render(
      c,
      <ExecutionsPage
        v={v}
        items={items.map(executionView)}
        policies={policies.map((p) => p.name)}
        policy={policy}
        status={status ?? ''}
        older={page.length > items.length ? items[items.length - 1]!.id : null}
        newestFirst={before === undefined}
      />,
    );
  });

  const executionPage = async (c: AppContext, id: number, extra: { error?: string; status?: ContentfulStatusCode } = {}) => {
    const { db } = c.var.deps;
    const execution = await replicationExecution(db, id);
    const v = view(c, extra.error ? executionPath(id) : undefined);
    const status = oneOf(TASK_STATUSES, c.req.query('status'));
    const after = idOf(c.req.query('after'));
    const found: TaskView[] = await listTasks(db, id, { status, limit: TASK_PAGE + 1, after });
    const tasks = found.slice(0, TASK_PAGE);
    return render(
      c,
      <ExecutionPage
        v={v}
        execution={executionView(execution)}
        tasks={tasks.map(taskView)}
        status={status ?? ''}
        next={found.length > tasks.length ? tasks[tasks.length - 1]!.id : null}
        error={extra.error}
        notice={noticeOf(c, v)}
      />,
      extra.status,
    );
  };

  const executionId = (c: AppContext) => {
    const id = idOf(c.req.param('id'));
    if (id === undefined) throw notFound('execution.notFound', { id: c.req.param('id') ?? '' });
    return id;
  };

  ui.get(`${LIST}/:id`, (c) => {
    adminUser(c);
    return executionPage(c, executionId(c));
  });

  /** Stop and retry: a refusal (already finished, still running, nothing to retry) is shown on the execution's page. */
  const executionAction = (path: string, action: typeof stopExecution, done: string) =>
    ui.post(`${LIST}/:id/${path}`, async (c) => {
      adminUser(c);
      const id = executionId(c);
      await replicationExecution(c.var.deps.db, id);
      try {
        await action(ctxOf(c), id);
      } catch (err) {
        if (err instanceof AppError && err.status === 404) throw err;
        return executionPage(c, id, { error: errorText(view(c), err), status: statusOf(err) });
      }
      return c.redirect(`${executionPath(id)}?done=${done}`, 303);
    });
  executionAction('stop', stopExecution, 'executionStopped');
  executionAction('retry', retryExecution, 'executionRetried');

  return ui;
}
