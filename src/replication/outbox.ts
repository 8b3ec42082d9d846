import { projectOf } from '../access/roles';
import type { Tx } from '../db/open';
import { policyMatches } from './plan';
import { eventPushPolicies, queueReplicationEvents } from './store';

/** A change of the local tag state that event-triggered push policies replicate. */
export interface ReplicatedChange {
  operation: 'copy' | 'delete';
  repository: string;
  tag: string;
  digest: string | null;
}

/**
 * Writes the changes event-triggered push policies must replicate, in the transaction that made
 * them (an outbox): they are turned into executions after commit, once their debounce has passed,
 * so a crash between the two loses nothing and the ingest never waits on another registry.
 */
export async function queueReplication(tx: Tx, changes: ReplicatedChange[], opts: { defaultProject: string; nowMs: number }): Promise<void> {
  if (changes.length === 0) return;
  const byProject = new Map<string, ReplicatedChange[]>();
  for (const change of changes) {
    const project = projectOf(change.repository, opts.defaultProject);
    byProject.set(project, [...(byProject.get(project) ?? []), change]);
  }
  for (const [project, projectChanges] of byProject) {
    const policies = await eventPushPolicies(tx, project);
    for (const policy of policies) {
      const rows = projectChanges
        .filter((c) => c.operation === 'copy' || policy.deletions)
        .filter((c) => policyMatches(policy, c.repository, c.tag))
        .map((c) => ({ policyId: policy.id, operation: c.operation, repository: c.repository, tag: c.tag, digest: c.digest, seenAt: opts.nowMs }));
      await queueReplicationEvents(tx, rows);
    }
  }
}
