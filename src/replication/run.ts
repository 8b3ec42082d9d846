import { Agent, request } from 'undici';
import type { Ctx } from '../context';
import type { Deps } from '../deps';
import { transaction } from '../db/transaction';
import { recordAudit } from '../audit/record';
import { createExecution, type ExecutionView, type NewTask, type Trigger } from '../jobs/executions';
import type { TaskHandler, TaskOutcome, RetryPolicy } from '../jobs/runner';
import { RemoteRegistry, TransferError, parseChallenge, type RegistryEndpoint } from './remote';
import { copyImage, deleteImageTag } from './copy';
import { planPull, planPush, type PlannedTask } from './plan';
import { registryEndpoint } from './registries';
import { policyById, projectNameById, registryById, type PolicyRow, type RegistryRow } from './store';
import { isImmutableExistingTag } from '../storage/immutability-restore';
import { readOnlyState } from '../storage/state';
import { RetryableError } from '../jobs/errors';

/** The job kind of replication executions. */
export const REPLICATION_JOB = 'replication';

/** A replication task's payload: what to copy or delete, and the policy it runs for. */
export interface ReplicationPayload extends PlannedTask {
  policyId: number;
}

export const replicationRetryPolicy = (deps: Pick<Deps, 'config'>) => (): RetryPolicy => {
  const r = deps.config.replication;
  return { maxAttempts: r.maxAttempts, baseDelayMs: r.retryBaseMs, maxDelayMs: r.retryMaxMs, timeoutMs: r.taskTimeoutMs };
};

/** Plans a policy's run: from Wharf's tag state (push) or the remote registry's listing (pull). */
async function plan(deps: Deps, policy: PolicyRow, project: string, registry: RegistryRow): Promise<PlannedTask[]> {
  if (policy.direction === 'push') return planPush(deps.db, policy, project);
  const remote = new RemoteRegistry(registryEndpoint(deps, registry), { timeoutMs: deps.config.replication.requestTimeoutMs });
  try {
    return await planPull(policy, project, remote);
  } finally {
    await remote.close();
  }
}

/**
 * Starts one execution of a policy: plans it (unless the tasks are given, as for event triggers),
 * then stores the execution with its tasks and the audit row in one transaction. A dry run stores
 * every task as skipped (`dry_run`) and copies nothing. A plan that cannot be made (the registry
 * unreachable, its catalog refused) is an execution that failed with the reason.
 */
export async function startPolicyExecution(
  ctx: Ctx,
  policy: PolicyRow,
  opts: { trigger: Trigger; dryRun?: boolean; tasks?: PlannedTask[] },
): Promise<ExecutionView> {
  const deps = ctx.deps;
  const dryRun = opts.dryRun ?? false;
  const project = (await projectNameById(ctx.db, policy.projectId)) ?? '';
  const registry = (await registryById(ctx.db, policy.registryId))!;
  let planned: PlannedTask[] = [];
  let error: string | null = null;
  if (opts.tasks) planned = opts.tasks;
  else
    try {
      planned = await plan(deps, policy, project, registry);
    } catch (err) {
      error = `planning failed: ${(err as Error).message}`;
    }
  const tasks: NewTask[] = planned.map((t) => ({
    payload: { ...t, policyId: policy.id } satisfies ReplicationPayload as unknown as Record<string, unknown>,
    ...(dryRun ? { status: 'skipped' as const, reason: 'dry_run' } : {}),
  }));
  const execution = await transaction(ctx.db, async (tx) => {
    const created = await createExecution(
      { ...ctx, db: tx },
      { kind: REPLICATION_JOB, subjectId: policy.id, subject: policy.name, trigger: opts.trigger, dryRun, concurrency: policy.concurrency, error, tasks },
    );
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'replication_run',
      resourceType: 'replication_policy',
      resource: policy.name,
      sourceIp: ctx.actor.ip ?? null,
      userAgent: ctx.actor.userAgent ?? null,
      detail: JSON.stringify({ execution: created.id, trigger: opts.trigger, dryRun, tasks: tasks.length, ...(error ? { error } : {}) }),
    });
    return created;
  });
  deps.jobs.wake();
  return execution;
}

/** The token path Wharf and Harbor both put their realm on, beside their API. */
const TOKEN_SERVICE_PATH = '/service/token';

/**
 * Where a Wharf or Harbor target answers its API: the origin of the token realm its registry
 * names (Wharf's registry listens apart from Wharf), else the registry's own URL.
 */
async function targetApiBase(registryUrl: string, dispatcher: Agent, timeoutMs: number): Promise<string> {
  const res = await request(`${registryUrl}/v2/`, { method: 'GET', dispatcher, signal: AbortSignal.timeout(timeoutMs) });
  await res.body.dump();
  const challenge = res.statusCode === 401 ? parseChallenge(res.headers['www-authenticate']) : null;
  if (challenge?.scheme !== 'bearer') return registryUrl;
  const realm = new URL(challenge.realm);
  return realm.pathname.endsWith(TOKEN_SERVICE_PATH) ? `${realm.origin}${realm.pathname.slice(0, -TOKEN_SERVICE_PATH.length)}` : registryUrl;
}

/** Creates the destination project at a Wharf or Harbor target, once per execution; a refusal is left to the copy to report. */
async function ensureTargetProject(deps: Deps, registry: RegistryRow, endpoint: RegistryEndpoint, project: string): Promise<void> {
  if (registry.kind === 'distribution') return;
  const harbor = registry.kind === 'harbor';
  const body = JSON.stringify(harbor ? { project_name: project, metadata: { public: 'false' } } : { name: project });
  const dispatcher = new Agent({ connect: { ...(endpoint.caPem ? { ca: endpoint.caPem } : {}), rejectUnauthorized: !endpoint.insecure } });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (endpoint.username) headers.authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}`;
  const timeoutMs = deps.config.replication.requestTimeoutMs;
  try {
    const base = await targetApiBase(registry.url, dispatcher, timeoutMs);
    const url = `${base}${harbor ? '/api/v2.0/projects' : '/api/v1/projects'}`;
    const res = await request(url, { method: 'POST', headers, body, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
    if (res.statusCode >= 500) throw new TransferError(`the target's API answered ${res.statusCode} creating project ${project}`, true, res.statusCode);
  } catch (err) {
    if (err instanceof TransferError) throw err;
    throw new TransferError(`the target's API cannot be reached: ${(err as Error).message}`, true);
  } finally {
    await dispatcher.close();
  }
}

/** The first component of a repository name: the project at a Wharf or Harbor target. */
const projectPart = (repository: string) => repository.split('/')[0]!;

/** Runs one replication task: a copy or a delete, between Wharf's registry and the policy's. */
/** How long a pull task waits in the read-only window before it looks again (shorter when retries are configured shorter). */
const READ_ONLY_RETRY_MS = 30_000;

/** Copies into this registry wait while it is read-only: the task is tried again after the window, without using up its attempts. */
async function waitOutReadOnly(deps: Deps): Promise<void> {
  const state = await readOnlyState(deps.db);
  if (!state.readOnly) return;
  const after = Math.min(READ_ONLY_RETRY_MS, Math.max(100, deps.config.replication.retryMaxMs));
  throw new RetryableError(`the registry is read-only${state.reason ? ` (${state.reason})` : ''}; waiting`, after, true);
}

export function replicationHandler(deps: Deps): TaskHandler {
  const projectsMade = new Set<string>();
  return async (task): Promise<TaskOutcome> => {
    const p = task.payload as unknown as ReplicationPayload;
    const policy = await policyById(deps.db, p.policyId);
    // Deleted while its run was under way: the run is being stopped; a task that starts meanwhile has nothing to do.
    if (!policy) return { status: 'skipped', reason: 'policy_deleted' };
    const registry = await registryById(deps.db, policy.registryId);
    if (!registry) return { status: 'failed', error: 'the registry was deleted' };
    if (policy.direction === 'pull') await waitOutReadOnly(deps);
    const endpoint = registryEndpoint(deps, registry);
    const timeoutMs = deps.config.replication.requestTimeoutMs;
    const remote = new RemoteRegistry(endpoint, { timeoutMs });
    const local = new RemoteRegistry(deps.localRegistry, { timeoutMs });
    const [source, target] = policy.direction === 'push' ? [local, remote] : [remote, local];
    try {
      if (p.operation === 'delete') {
        await deleteImageTag(target, p.destination, p.tag);
        return { status: 'succeeded' };
      }
      // A pull never moves an immutable local tag (override or not); a new one it may create.
      if (policy.direction === 'pull' && (await isImmutableExistingTag(deps.db, p.destination, p.tag, deps.config.defaultProject.name)))
        return { status: 'skipped', reason: 'immutable' };
      if (policy.direction === 'push') {
        const key = `${task.executionId}:${projectPart(p.destination)}`;
        if (!projectsMade.has(key)) {
          await ensureTargetProject(deps, registry, endpoint, projectPart(p.destination));
          if (projectsMade.size > 10_000) projectsMade.clear();
          projectsMade.add(key);
        }
      }
      const result = await copyImage({
        source,
        sourceRepository: p.repository,
        reference: p.tag,
        target,
        targetRepository: p.destination,
        tag: p.tag,
        override: policy.override,
        bandwidthKBps: policy.bandwidthKBps,
        signal: task.signal,
        checkpoint: task.checkpoint,
        saveCheckpoint: (value) => task.saveCheckpoint(value),
        onBytes: (n) => {
          task.addBytes(n);
          deps.metrics.replicationBytes.inc({ direction: policy.direction }, n);
        },
      });
      if (result.outcome === 'copied') return { status: 'succeeded', bytes: result.bytes };
      return { status: 'skipped', reason: result.outcome === 'exists' ? 'exists' : 'override_off', bytes: result.bytes };
    } finally {
      await Promise.all([remote.close(), local.close()]);
    }
  };
}

/**
 * The audit row of a run that finished (the one at its start says what it planned): status and
 * task counts, with the policy's project, so the audit log (and the webhooks that follow it) hear
 * of the outcome. Written by the runner that finished the run's last task.
 */
export async function recordRunFinished(deps: Deps, execution: ExecutionView): Promise<void> {
  if (execution.kind !== REPLICATION_JOB || execution.subjectId === null) return;
  const policy = await policyById(deps.db, execution.subjectId);
  const project = policy ? ((await projectNameById(deps.db, policy.projectId)) ?? null) : null;
  await recordAudit(deps.db, {
    username: 'system',
    action: 'replication_run',
    resourceType: 'replication_policy',
    resource: policy?.name ?? execution.subject ?? String(execution.subjectId),
    project,
    outcome: 'success',
    detail: JSON.stringify({
      execution: execution.id,
      status: execution.status,
      trigger: execution.trigger,
      dryRun: execution.dryRun,
      direction: policy?.direction ?? null,
      tasks: { total: execution.total, succeeded: execution.succeeded, failed: execution.failed, skipped: execution.skipped, stopped: execution.stopped },
      bytes: execution.bytes,
    }),
  });
}
