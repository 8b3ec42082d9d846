import type { Deps } from '../deps';
import { contextFor } from '../context';
import type { Scheduled } from '../db/leadership';
import { AppError } from '../errors';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../identity/principal';
import { CronTriggers } from '../jobs/cron';
import { projectNameOf, retentionCronProjects } from './retention-store';
import { startRetention } from './retention';

/** How often the leader re-reads the cron policies (another instance may have changed one). */
const CRON_SYNC_MS = 30_000;

/** What the retention service tells after a policy change commits. */
export interface RetentionHooks {
  policyChanged(): Promise<void>;
}

/** The retention cron triggers of every project, on the elected instance (leadership.schedule). */
export class RetentionTriggers implements RetentionHooks {
  private readonly cron: CronTriggers;
  private readonly exprs = new Map<number, string>();
  private leading = false;

  constructor(private readonly deps: Deps) {
    this.cron = new CronTriggers(deps.log.child({ component: 'retention-cron' }));
  }

  /** A firing while the previous run has not finished is skipped (startRetention's 409), not queued. */
  private async fire(projectId: number): Promise<void> {
    const name = await projectNameOf(this.deps.db, projectId);
    if (name === undefined) return;
    try {
      await startRetention(contextFor(this.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR), name, { trigger: 'cron' });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      this.deps.log.info({ project: name, reason: err.message }, 'retention cron firing skipped');
    }
  }

  /** Makes the triggers follow the stored cron policies. */
  async syncCron(): Promise<void> {
    if (!this.leading) return;
    const seen = new Set<number>();
    for (const { projectId, cron } of await retentionCronProjects(this.deps.db)) {
      seen.add(projectId);
      if (this.exprs.get(projectId) === cron) continue;
      this.exprs.set(projectId, cron);
      this.cron.set(String(projectId), cron, () => this.fire(projectId));
    }
    for (const id of [...this.exprs.keys()])
      if (!seen.has(id)) {
        this.cron.delete(String(id));
        this.exprs.delete(id);
      }
  }

  policyChanged(): Promise<void> {
    return this.syncCron();
  }

  /** The keys of the triggers set (project ids), for tests. */
  keys(): string[] {
    return this.cron.keys();
  }

  scheduler(): Scheduled {
    this.leading = true;
    const log = this.deps.log.child({ component: 'retention-triggers' });
    const sync = () => this.syncCron().catch((err: Error) => log.warn({ err: err.message }, 'retention cron sync failed; trying again'));
    const timer = setInterval(() => void sync(), CRON_SYNC_MS);
    timer.unref();
    void sync();
    return {
      stop: () => {
        this.leading = false;
        clearInterval(timer);
        this.cron.stopAll();
        this.exprs.clear();
      },
    };
  }
}
