import { parse } from './args';
import { cliContext, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

/** How often the command looks whether its reconcile execution has finished. */
const POLL_MS = 200;

/**
 * `wharf reconcile`: one reconcile against the configured registry, as a job execution. This
 * process runs it unless a running server's runner takes it first, or one was already underway
 * (then the command waits for that one); the report is the one that execution left.
 */
export async function reconcileCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (usage: wharf reconcile)`);
  const [{ lastReconcileReport, registerReconcileJob, requestReconcile }, { getExecution, listTasks }] = await Promise.all([
    import('../artifacts/reconcile'),
    import('../jobs/executions'),
  ]);
  await withInstance(async ({ deps }, config) => {
    // No leader election in a one-off command: this runner takes the reconcile itself.
    registerReconcileJob(deps.jobs, deps.reconciler, deps.log);
    // A server may run on the same SQLite file: its running tasks are not leftovers.
    const running = deps.jobs.start({ releaseLeftovers: false });
    try {
      const { id } = await requestReconcile(cliContext(deps), 'manual');
      let execution = await getExecution(deps.db, id);
      while (execution && execution.finishedAt === null) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        execution = await getExecution(deps.db, id);
      }
      if (execution?.status !== 'succeeded') {
        const [task] = await listTasks(deps.db, id, { limit: 1 });
        throw new CommandError(`reconcile ${execution?.status ?? 'lost'}: ${task?.error ?? execution?.error ?? 'no reason recorded'}`);
      }
    } finally {
      await running.stop();
    }
    const report = await lastReconcileReport(deps.db);
    if (!report) throw new CommandError('reconcile finished but left no report');
    io.out(`reconciled with ${config.registry.url} in ${report.durationMs} ms`);
    io.out(`repositories ${report.repositories}, tags ${report.tags}`);
    io.out(`added ${report.added}, removed ${report.removed}, repaired ${report.repaired}, skipped ${report.skipped.length}`);
    for (const s of report.skipped) io.out(`  skipped ${s.repository}: ${s.reason}`);
  });
}
