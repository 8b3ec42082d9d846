import type { Deps } from '../deps';
import { contextFor } from '../context';
import { transaction } from '../db/transaction';
import type { Scheduled } from '../db/leadership';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../identity/principal';
import { CronTriggers } from '../jobs/cron';
import { taskDestination, type PlannedTask } from './plan';
import { startPolicyExecution } from './run';
import type { PolicyChange, ReplicationHooks } from './policies';
import { cronPolicies, policiesWithDueEvents, policyById, projectNameById, takeReplicationEvents, type PolicyRow } from './store';

/** How often the leader looks for outbox rows whose debounce has passed, and re-reads cron policies. */
const EVENT_POLL_MS = 1_000;
const CRON_SYNC_MS = 30_000;

/** The latest change of each tag wins: a push then a delete of one tag is a delete. */
export function collapseChanges(rows: { operation: 'copy' | 'delete'; repository: string; tag: string | null; digest: string | null }[]): typeof rows {
  const latest = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    const key = JSON.stringify([row.repository, row.tag]);
    latest.delete(key);
    latest.set(key, row);
  }
  return [...latest.values()];
}

/**
 * The triggers that start executions without a person: the event outbox (debounced) and cron
 * expressions. Both run on the elected instance only (`scheduler()` goes to leadership.schedule);
 * what they start is stored, and every instance's workers run it.
 */
export class ReplicationTriggers implements ReplicationHooks {
  private readonly cron: CronTriggers;
  private readonly cronExprs = new Map<number, string>();
  private leading = false;

  constructor(private readonly deps: Deps) {
    this.cron = new CronTriggers(deps.log.child({ component: 'replication-cron' }));
  }

  private ctx() {
    return contextFor(this.deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
  }

  /** Turns the outbox rows of every policy whose debounce has passed into one execution each. */
  async dispatchEvents(): Promise<void> {
    const due = await policiesWithDueEvents(this.deps.db, this.deps.clock.now() - this.deps.config.replication.debounceMs);
    for (const policyId of due) {
      await transaction(this.deps.db, async (tx) => {
        const rows = await takeReplicationEvents(tx, policyId);
        const policy = await policyById(tx, policyId);
        if (!policy || !policy.enabled || rows.length === 0) return;
        const project = (await projectNameById(tx, policy.projectId)) ?? '';
        const tasks: PlannedTask[] = collapseChanges(rows)
          .filter((r) => r.tag !== null && (r.operation === 'copy' || policy.deletions))
          .map((r) => ({ operation: r.operation, repository: r.repository, tag: r.tag!, digest: r.digest, destination: taskDestination(policy, project, r.repository) }));
        if (tasks.length > 0) await startPolicyExecution({ ...this.ctx(), db: tx }, policy, { trigger: 'event', tasks });
      });
    }
  }

  /** Makes the cron triggers follow the enabled cron policies (created, changed or removed on any instance). */
  async syncCron(): Promise<void> {
    if (!this.leading) return;
    const policies = await cronPolicies(this.deps.db);
    const seen = new Set<number>();
    for (const policy of policies) {
      seen.add(policy.id);
      if (!policy.triggerCron || this.cronExprs.get(policy.id) === policy.triggerCron) continue;
      this.cronExprs.set(policy.id, policy.triggerCron);
      this.cron.set(String(policy.id), policy.triggerCron, async () => {
        const current = await policyById(this.deps.db, policy.id);
        if (current?.enabled && current.triggerType === 'cron') await startPolicyExecution(this.ctx(), current, { trigger: 'cron' });
      });
    }
    for (const id of [...this.cronExprs.keys()])
      if (!seen.has(id)) {
        this.cron.delete(String(id));
        this.cronExprs.delete(id);
      }
  }

  /** After a policy's change commits: a new enabled policy copies what exists at once; cron follows. */
  async policyChanged(policy: PolicyRow, change: PolicyChange): Promise<void> {
    if (change === 'created' && policy.enabled && policy.replicateExisting)
      await startPolicyExecution(this.ctx(), policy, { trigger: 'creation' });
    await this.syncCron();
  }

  /** For leadership.schedule: the outbox poll and the cron triggers while this instance leads. */
  scheduler(): Scheduled {
    this.leading = true;
    const log = this.deps.log.child({ component: 'replication-triggers' });
    let busy = false;
    const tick = async (work: () => Promise<void>, what: string) => {
      if (busy) return;
      busy = true;
      try {
        await work();
      } catch (err) {
        log.warn({ err: (err as Error).message }, `replication ${what} failed; trying again`);
      } finally {
        busy = false;
      }
    };
    const events = setInterval(() => void tick(() => this.dispatchEvents(), 'event dispatch'), EVENT_POLL_MS);
    const cron = setInterval(() => void tick(() => this.syncCron(), 'cron sync'), CRON_SYNC_MS);
    events.unref();
    cron.unref();
    void tick(() => this.syncCron(), 'cron sync');
    return {
      stop: () => {
        this.leading = false;
        clearInterval(events);
        clearInterval(cron);
        this.cron.stopAll();
        this.cronExprs.clear();
      },
    };
  }
}
