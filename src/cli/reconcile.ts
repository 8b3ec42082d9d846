import { parse } from './args';
import { withInstance, type Output } from './context';
import { UsageError } from './errors';

/** `wharf reconcile`: one reconcile against the configured registry. */
export async function reconcileCommand(args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (usage: wharf reconcile)`);
  await withInstance(async ({ deps }, config) => {
    const report = await deps.reconciler.run();
    io.out(`reconciled with ${config.registry.url} in ${report.durationMs} ms`);
    io.out(`repositories ${report.repositories}, tags ${report.tags}`);
    io.out(`added ${report.added}, removed ${report.removed}, repaired ${report.repaired}, skipped ${report.skipped.length}`);
    for (const s of report.skipped) io.out(`  skipped ${s.repository}: ${s.reason}`);
  });
}
