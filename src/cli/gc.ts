import path from 'node:path';
import { parse } from './args';
import { cliContext, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

/** How often the command looks whether its GC execution has finished. */
const POLL_MS = 500;

/**
 * `wharf gc [--dry-run] [--delete-untagged]`: a garbage collection of the registry on this host,
 * as a GC execution this process runs (taking the read-only window through the database, so every
 * instance refuses pushes meanwhile). For operators whose Wharf does not supervise the registry.
 */
export async function gcCommand(args: string[], io: Output): Promise<void> {
  const { values, positionals } = parse(args, { 'dry-run': { type: 'boolean' }, 'delete-untagged': { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (usage: wharf gc [--dry-run] [--delete-untagged])`);
  const [{ endInterruptedGc, getGcRun, registerGcJob, releaseStaleGcWindow, startGc }, { findRegistryBinary }] = await Promise.all([import('../storage/gc'), import('../registry/supervisor')]);
  await withInstance(async ({ deps }, config) => {
    const binary = findRegistryBinary(config.registry.binary);
    if (!binary) throw new CommandError('no registry binary (registry or docker-registry) on PATH; run this command on the registry\'s host');
    deps.gcHost = { binary, configFile: path.join(config.dataDir, 'registry-config.yml'), storageRoot: config.registry.storage };
    registerGcJob(deps, deps.gcHost);
    await releaseStaleGcWindow(deps);
    // A server may run on the same SQLite file: its running tasks are not leftovers.
    const running = deps.jobs.start({ releaseLeftovers: false });
    let run;
    // Ctrl-C or a kill: the runner stops (the registry's GC with it), the execution fails and the window is given back.
    let interrupted: NodeJS.Signals | null = null;
    let wake = () => {};
    const onSignal = (signal: NodeJS.Signals) => {
      interrupted = signal;
      wake();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let id: number | null = null;
    try {
      const started = await startGc(cliContext(deps), { dryRun: values['dry-run'] === true, deleteUntagged: values['delete-untagged'] === true, trigger: 'manual' });
      id = started.id;
      io.out(`garbage collection ${started.id} started${started.dryRun ? ' (dry run)' : ''}; a real run waits for push tokens to expire first`);
      run = await getGcRun(deps.db, started.id);
      while (run && run.finishedAt === null && !interrupted) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, POLL_MS);
          wake = () => (clearTimeout(t), r());
        });
        if (!interrupted) run = await getGcRun(deps.db, started.id);
      }
    } finally {
      await running.stop();
      if (interrupted && id !== null) await endInterruptedGc(deps, id, `interrupted (${interrupted as string})`);
      await releaseStaleGcWindow(deps);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (interrupted) throw new CommandError(`garbage collection ${id ?? ''} interrupted (${interrupted as string}); the read-only window is released`);
    if (run?.status !== 'succeeded') throw new CommandError(`garbage collection ${run?.status ?? 'lost'}: ${run?.error ?? 'no reason recorded'}`);
    io.out(`${run.dryRun ? 'would delete' : 'deleted'} ${run.manifestsDeleted} manifests and ${run.blobsDeleted} blobs; ${run.dryRun ? 'would free' : 'freed'} ${run.bytesFreed} bytes`);
  });
}
