import type { Ctx } from '../context';
import type { Clock } from '../clock';
import { isoTime } from '../clock';
import type { Db, Tx } from '../db/open';
import { transaction } from '../db/transaction';
import { badRequest, notFound } from '../errors';
import type { Log } from '../log';
import type { Metrics } from '../metrics';
import { recordAudit } from '../audit/record';
import { assertSystemAdmin } from '../identity/principal';
import { findProject, memberVisibleProject } from '../access/projects';
import { projectStorageOf, updateProjectStorage } from './store';
import { storageRulesChanged } from './gates';
import { allProjects, projectNameOf, projectOfRepository, projectUsageBytes } from './quota-store';

/** A limit is a whole number of bytes the engines and JSON both hold exactly. */
export const QUOTA_LIMIT_MAX = Number.MAX_SAFE_INTEGER;

export interface QuotaView {
  limitBytes: number | null;
  usedBytes: number;
}

/** Recomputes a project's usage from the blobs its manifests keep and stores it; answers the bytes. */
export async function recomputeUsage(db: Tx, projectId: number, at: string): Promise<number> {
  const committed = await transaction(db, async (tx) => {
    const usedBytes = await projectUsageBytes(tx, projectId);
    const row = await projectStorageOf(tx, projectId);
    const limit = row?.quotaLimitBytes ?? null;
    const over = limit !== null && usedBytes >= limit;
    // One audit row (and quota.exceeded event) per crossing, not per recompute; cleared once under again.
    const exceededAt = over ? (row?.quotaExceededAt ?? at) : null;
    await updateProjectStorage(tx, projectId, { usedBytes, usageAt: at, quotaExceededAt: exceededAt });
    if (over && !row?.quotaExceededAt) {
      const project = (await projectNameOf(tx, projectId)) ?? '';
      await recordAudit(tx, {
        time: at,
        username: 'system',
        action: 'quota_exceeded',
        resourceType: 'project',
        resource: project,
        project,
        detail: JSON.stringify({ usedBytes, limitBytes: limit }),
      });
    }
    return usedBytes;
  });
  // After the commit too: a token request between the change and its commit cached the old rules.
  storageRulesChanged();
  return committed;
}

export function checkedLimit(limitBytes: unknown): number | null {
  if (limitBytes === null) return null;
  if (typeof limitBytes !== 'number' || !Number.isSafeInteger(limitBytes) || limitBytes < 1 || limitBytes > QUOTA_LIMIT_MAX)
    throw badRequest('quota.badLimit', { max: QUOTA_LIMIT_MAX });
  return limitBytes;
}

/** A project's limit and usage: its members and system admins may read them. */
export async function getQuota(ctx: Pick<Ctx, 'db' | 'principal'>, projectName: string): Promise<QuotaView> {
  const { project } = await memberVisibleProject(ctx.db, ctx.principal, projectName);
  const row = await projectStorageOf(ctx.db, project.id);
  return { limitBytes: row?.quotaLimitBytes ?? null, usedBytes: row?.usedBytes ?? 0 };
}

/** Sets or clears (null) a project's quota (system admins); over it, pushes are refused at the token endpoint. */
export async function setQuota(ctx: Ctx, projectName: string, input: { limitBytes: unknown }): Promise<QuotaView> {
  assertSystemAdmin(ctx.principal);
  const limitBytes = checkedLimit(input.limitBytes);
  const { actor } = ctx;
  const view = await transaction(ctx.db, async (tx) => {
    const project = await findProject(tx, projectName);
    if (!project) throw notFound('project.notFound', { name: projectName });
    const before = await projectStorageOf(tx, project.id);
    const at = isoTime(ctx.clock.now());
    await updateProjectStorage(tx, project.id, { quotaLimitBytes: limitBytes, updatedAt: at, updatedBy: actor.username });
    await recordAudit(tx, {
      username: actor.username,
      action: 'quota_set',
      resourceType: 'project',
      resource: project.name,
      project: project.name,
      sourceIp: actor.ip,
      userAgent: actor.userAgent ?? null,
      detail: JSON.stringify({ old: before?.quotaLimitBytes ?? null, new: limitBytes }),
    });
    return { limitBytes, usedBytes: before?.usedBytes ?? 0 };
  });
  storageRulesChanged();
  setQuotaGauge(ctx.deps.metrics, projectName, limitBytes);
  return view;
}

function setQuotaGauge(metrics: Metrics, project: string, limitBytes: number | null): void {
  if (limitBytes === null) metrics.projectQuota.remove({ project });
  else metrics.projectQuota.set({ project }, limitBytes);
}

/**
 * Usage recomputes, coalesced per project: manifests filled in a burst of pushes ask for one
 * recompute of their project after a short delay, not one each.
 */
export class UsageRefresh {
  private readonly pending = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Log; metrics: Metrics },
    private readonly delayMs = 250,
  ) {}

  /** A manifest of this repository was stored: its project's usage is recomputed soon. */
  noteRepository(repository: string): void {
    this.running = this.running.then(async () => {
      try {
        const project = await projectOfRepository(this.deps.db, repository);
        if (project) this.noteProject(project.id);
      } catch (err) {
        this.deps.log.warn({ repository, err: (err as Error).message }, 'quota usage not recomputed');
      }
    });
  }

  noteProject(projectId: number): void {
    this.pending.add(projectId);
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  /** Recomputes one project now (after a delete: its pushes may be allowed again at once). */
  async recompute(projectId: number, name?: string): Promise<number> {
    const used = await recomputeUsage(this.deps.db, projectId, isoTime(this.deps.clock.now()));
    const project = name ?? (await projectNameOf(this.deps.db, projectId));
    if (project !== undefined) this.deps.metrics.projectStorageUsed.set({ project }, used);
    return used;
  }

  /** Every project (after reconcile, which may have found images added or removed behind Wharf's back). */
  async recomputeAll(): Promise<void> {
    for (const p of await allProjects(this.deps.db)) {
      await this.recompute(p.id, p.name);
      const row = await projectStorageOf(this.deps.db, p.id);
      if (row?.quotaLimitBytes != null) this.deps.metrics.projectQuota.set({ project: p.name }, row.quotaLimitBytes);
    }
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    await this.running;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.flush();
    }
    await this.running;
  }

  private flush(): void {
    this.timer = null;
    const ids = [...this.pending];
    this.pending.clear();
    this.running = this.running.then(async () => {
      for (const id of ids) {
        try {
          await this.recompute(id);
        } catch (err) {
          this.deps.log.warn({ projectId: id, err: (err as Error).message }, 'quota usage not recomputed');
        }
      }
    });
  }
}
