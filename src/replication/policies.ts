import { isoTime } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import { INTEGER_MAX } from '../db/engine';
import type { Tx } from '../db/open';
import type { PageRequest } from '../db/paged';
import { AppError, badRequest, conflict, fail, forbidden, notFound, unauthorized } from '../errors';
import { recordAudit } from '../audit/record';
import { findProject } from '../access/store';
import { isValidRepositoryName, PATH_COMPONENT_RE, REPOSITORY_NAME_MAX } from '../access/roles';
import { cronProblem } from '../jobs/cron';
import { globProblem, type Filters } from './filters';
import { planPull, planPush, policyFilters, pushNamespace, type PlannedTask } from './plan';
import { RemoteRegistry } from './remote';
import { registryEndpoint } from './registries';
import {
  deletePolicyRow,
  insertPolicy,
  pageOfPolicies,
  namedPolicyByName,
  registryByName,
  updatePolicyRow,
  type NamedPolicyRow,
  type NewPolicyRow,
  type PolicyRow,
} from './store';

export const POLICY_NAME_MAX = 128;
export const CONCURRENCY_MAX = 16;
/** What the column holds; a limit that high is no limit in practice. */
export const BANDWIDTH_KBPS_MAX = INTEGER_MAX;
export const PREVIEW_LIMIT = 100;

export type Direction = 'push' | 'pull';
export type TriggerType = 'manual' | 'event' | 'cron';
export interface PolicyTrigger {
  type: TriggerType;
  cron?: string | null;
}

/** A policy's fields as the API takes them (POST body; PATCH gives any of them but name and direction). */
export interface PolicyInput {
  name: string;
  direction: Direction;
  registry: string;
  project: string;
  filters?: Filters;
  destination?: string | null;
  override?: boolean;
  deletions?: boolean;
  trigger: PolicyTrigger;
  replicateExisting?: boolean;
  enabled?: boolean;
  concurrency?: number;
  bandwidthKBps?: number | null;
  description?: string | null;
}

export type PolicyPatch = Partial<Omit<PolicyInput, 'name' | 'direction'>> & { name?: string; direction?: Direction };

export interface PolicyView {
  name: string;
  direction: Direction;
  registry: string;
  project: string;
  filters: Required<Filters>;
  /** Push: the namespace at the target (the project's name unless set); pull: null. */
  destination: string | null;
  override: boolean;
  deletions: boolean;
  trigger: { type: TriggerType; cron: string | null };
  replicateExisting: boolean;
  enabled: boolean;
  concurrency: number;
  bandwidthKBps: number | null;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string | null;
}

export type PolicyChange = 'created' | 'updated' | 'deleted';

/** What the runner does when a policy changes (a first run at creation, cron and event triggers); called after commit. */
export interface ReplicationHooks {
  policyChanged(policy: PolicyRow, change: PolicyChange): Promise<void>;
}

const FILTER_FIELDS = ['repositories', 'excludeRepositories', 'tags', 'excludeTags'] as const;

export function policyView(named: NamedPolicyRow): PolicyView {
  const { policy: p, registry, project } = named;
  const stored = policyFilters(p);
  const filters = Object.fromEntries(FILTER_FIELDS.map((f) => [f, stored[f] ?? []])) as Required<Filters>;
  return {
    name: p.name,
    direction: p.direction,
    registry,
    project,
    filters,
    destination: p.direction === 'push' ? pushNamespace(p, project) : null,
    override: p.override,
    deletions: p.deletions,
    trigger: { type: p.triggerType, cron: p.triggerCron },
    replicateExisting: p.replicateExisting,
    enabled: p.enabled,
    concurrency: p.concurrency,
    bandwidthKBps: p.bandwidthKBps,
    description: p.description,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    createdBy: p.createdBy,
  };
}

function assertSystemAdmin(ctx: Ctx): void {
  const p = ctx.principal;
  if (p.kind === 'anonymous') throw unauthorized();
  if (p.kind !== 'user') throw forbidden('auth.robotNotAllowed');
  if (!p.admin) throw forbidden('auth.adminOnly');
}

export function assertPolicyName(name: string): void {
  if (name.length < 1 || name.length > POLICY_NAME_MAX || !PATH_COMPONENT_RE.test(name)) throw badRequest('replication.badName', { max: POLICY_NAME_MAX });
}

/** The shape rules a policy's fields must meet, before any row is read. */
function assertPolicyFields(input: Omit<PolicyInput, 'name'>): void {
  if (input.direction !== 'push' && input.direction !== 'pull') throw badRequest('replication.badDirection');
  const { type, cron } = input.trigger;
  if (type !== 'manual' && type !== 'event' && type !== 'cron') throw badRequest('replication.badTrigger');
  if (type === 'cron') {
    if (!cron?.trim()) throw badRequest('replication.cronMissing');
    const problem = cronProblem(cron);
    if (problem) throw badRequest('replication.badCron', { cron, problem });
  } else if (cron) throw badRequest('replication.cronNotCron', { type });
  if (input.direction === 'pull' && type === 'event') throw fail(422, 'unprocessable', 'replication.pullEvent');
  for (const field of FILTER_FIELDS) {
    const globs = input.filters?.[field] ?? [];
    const kind = field === 'tags' || field === 'excludeTags' ? 'tag' : 'repository';
    for (const glob of globs) {
      const problem = globProblem(glob, kind);
      if (problem) throw badRequest('replication.badGlob', { field: `filters.${field}`, glob, problem });
    }
  }
  if (input.destination != null) {
    if (input.direction === 'pull') throw badRequest('replication.destinationOnPull');
    if (!isValidRepositoryName(input.destination)) throw badRequest('replication.badDestination', { max: REPOSITORY_NAME_MAX });
  }
  if (input.direction === 'pull' && input.deletions) throw badRequest('replication.deletionsOnPull');
  const concurrency = input.concurrency;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= CONCURRENCY_MAX))
    throw badRequest('replication.badConcurrency', { max: CONCURRENCY_MAX });
  const bandwidth = input.bandwidthKBps;
  if (bandwidth != null && !(Number.isInteger(bandwidth) && bandwidth > 0 && bandwidth <= BANDWIDTH_KBPS_MAX)) throw badRequest('replication.badBandwidth');
}

/** The registry and project a policy names: 404 for either that does not exist. */
async function policyTargets(tx: Tx, input: { registry: string; project: string }) {
  const registry = await registryByName(tx, input.registry);
  if (!registry) throw notFound('registry.notFound', { name: input.registry });
  const project = await findProject(tx, input.project);
  if (!project) throw notFound('project.notFound', { name: input.project });
  return { registry, project };
}

/** The columns a validated input sets (defaults as API.md gives them). */
function policyColumns(input: Omit<PolicyInput, 'name'>, ids: { registryId: number; projectId: number }): Omit<NewPolicyRow, 'name' | 'createdBy'> {
  return {
    direction: input.direction,
    registryId: ids.registryId,
    projectId: ids.projectId,
    filters: JSON.stringify(Object.fromEntries(FILTER_FIELDS.flatMap((f) => (input.filters?.[f]?.length ? [[f, input.filters[f]]] : [])))),
    destination: input.direction === 'push' ? (input.destination ?? null) : null,
    override: input.override ?? true,
    deletions: input.deletions ?? false,
    triggerType: input.trigger.type,
    triggerCron: input.trigger.type === 'cron' ? input.trigger.cron!.trim() : null,
    replicateExisting: input.replicateExisting ?? true,
    enabled: input.enabled ?? true,
    concurrency: input.concurrency ?? 4,
    bandwidthKBps: input.bandwidthKBps ?? null,
    description: input.description ?? null,
  };
}

/** The input a stored policy amounts to, so that a patch can be laid over it and checked whole. */
function inputOf(named: NamedPolicyRow): PolicyInput {
  const { name, direction, filters, override, deletions, replicateExisting, enabled, concurrency, bandwidthKBps, description, trigger } = policyView(named);
  const { registry, project } = named;
  return { name, direction, registry, project, filters, destination: named.policy.destination, override, deletions, replicateExisting, enabled, concurrency, bandwidthKBps, description, trigger };
}

/** Tells the runner after commit; a failure there is logged, the change stands. */
async function announce(ctx: Ctx, policy: PolicyRow, change: PolicyChange): Promise<void> {
  const hooks = ctx.deps.replication;
  if (!hooks) return;
  try {
    await hooks.policyChanged(policy, change);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message, policy: policy.name, change }, 'replication runner could not take the policy change');
  }
}

const auditDetail = (view: PolicyView) =>
  JSON.stringify({ direction: view.direction, registry: view.registry, trigger: view.trigger, enabled: view.enabled, filters: view.filters, destination: view.destination });

export async function createPolicy(ctx: Ctx, input: PolicyInput): Promise<PolicyView> {
  assertSystemAdmin(ctx);
  assertPolicyName(input.name);
  assertPolicyFields(input);
  const created = await transaction(ctx.db, async (tx) => {
    const { registry, project } = await policyTargets(tx, input);
    if (await namedPolicyByName(tx, input.name)) throw conflict('replication.exists', { name: input.name });
    const row = await insertPolicy(tx, { name: input.name, createdBy: ctx.actor.username, ...policyColumns(input, { registryId: registry.id, projectId: project.id }) });
    const named = { policy: row, registry: registry.name, project: project.name };
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'replication_policy_create',
      resourceType: 'replication_policy',
      resource: row.name,
      project: project.name,
      sourceIp: ctx.actor.ip,
      detail: auditDetail(policyView(named)),
    });
    return named;
  });
  await announce(ctx, created.policy, 'created');
  return policyView(created);
}

export async function getPolicy(ctx: Ctx, name: string): Promise<PolicyView> {
  assertSystemAdmin(ctx);
  const named = await namedPolicyByName(ctx.db, name);
  if (!named) throw notFound('replication.notFound', { name });
  return policyView(named);
}

export async function listPolicies(ctx: Ctx, page: PageRequest = { page: 1, pageSize: 500 }): Promise<{ items: PolicyView[]; total: number }> {
  assertSystemAdmin(ctx);
  const found = await pageOfPolicies(ctx.db, page);
  return { items: found.items.map(policyView), total: found.total };
}

/** Changes any field but the name and the direction; the result is checked as a whole, as at creation. */
export async function updatePolicy(ctx: Ctx, name: string, patch: PolicyPatch): Promise<PolicyView> {
  assertSystemAdmin(ctx);
  const updated = await transaction(ctx.db, async (tx) => {
    const current = await namedPolicyByName(tx, name);
    if (!current) throw notFound('replication.notFound', { name });
    if (patch.name !== undefined && patch.name !== name) throw badRequest('replication.fixedField', { field: 'name' });
    if (patch.direction !== undefined && patch.direction !== current.policy.direction) throw badRequest('replication.fixedField', { field: 'direction' });
    const merged: PolicyInput = { ...inputOf(current), ...withoutUndefined(patch), name, direction: current.policy.direction };
    assertPolicyFields(merged);
    const { registry, project } = await policyTargets(tx, merged);
    const row = await updatePolicyRow(tx, current.policy.id, {
      ...policyColumns(merged, { registryId: registry.id, projectId: project.id }),
      updatedAt: isoTime(ctx.clock.now()),
    });
    const named = { policy: row, registry: registry.name, project: project.name };
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'replication_policy_update',
      resourceType: 'replication_policy',
      resource: name,
      project: project.name,
      sourceIp: ctx.actor.ip,
      detail: JSON.stringify({ changed: Object.keys(withoutUndefined(patch)).sort() }),
    });
    return named;
  });
  await announce(ctx, updated.policy, 'updated');
  return policyView(updated);
}

export async function deletePolicy(ctx: Ctx, name: string): Promise<void> {
  assertSystemAdmin(ctx);
  const deleted = await transaction(ctx.db, async (tx) => {
    const current = await namedPolicyByName(tx, name);
    if (!current) throw notFound('replication.notFound', { name });
    await deletePolicyRow(tx, current.policy.id);
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'replication_policy_delete',
      resourceType: 'replication_policy',
      resource: name,
      project: current.project,
      sourceIp: ctx.actor.ip,
    });
    return current.policy;
  });
  await announce(ctx, deleted, 'deleted');
}

export interface PolicyPreview {
  /** The first PREVIEW_LIMIT tasks a run would make, in plan order. */
  items: PlannedTask[];
  total: number;
}

/**
 * The tasks a policy with these fields would plan now, without storing anything: the UI's filter
 * preview. A pull asks the registry for its listing; a registry that does not answer is a 422 with its reason.
 */
export async function previewPolicy(ctx: Ctx, input: Omit<PolicyInput, 'name'> & { name?: string }): Promise<PolicyPreview> {
  assertSystemAdmin(ctx);
  assertPolicyFields(input);
  const { registry, project } = await policyTargets(ctx.db, input);
  const now = isoTime(ctx.clock.now());
  const policy: PolicyRow = {
    id: 0,
    name: input.name ?? '',
    createdBy: ctx.actor.username,
    createdAt: now,
    updatedAt: now,
    ...policyColumns(input, { registryId: registry.id, projectId: project.id }),
  } as PolicyRow;
  let tasks: PlannedTask[];
  if (policy.direction === 'push') tasks = await planPush(ctx.db, policy, project.name);
  else {
    const remote = new RemoteRegistry(registryEndpoint(ctx.deps, registry));
    try {
      tasks = await planPull(policy, project.name, remote);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw fail(422, 'unprocessable', 'replication.listingFailed', { registry: registry.name, reason: (err as Error).message });
    } finally {
      await remote.close();
    }
  }
  return { items: tasks.slice(0, PREVIEW_LIMIT), total: tasks.length };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
