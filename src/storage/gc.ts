import { spawn } from 'node:child_process';
import { open, opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isoTime } from '../clock';
import { contextFor, type Ctx } from '../context';
import type { Deps } from '../deps';
import { transaction } from '../db/transaction';
import type { Scheduled } from '../db/leadership';
import { deleteImage } from '../artifacts/delete';
import { recordAudit } from '../audit/record';
import { badRequest, fail } from '../errors';
import { SYSTEM_ACTOR, SYSTEM_PRINCIPAL } from '../identity/principal';
import { CronTriggers, cronProblem } from '../jobs/cron';
import { createExecution, getExecution, hasUnfinishedExecution, listExecutions, listTasks, type ExecutionView, type Trigger } from '../jobs/executions';
import type { RetryPolicy, TaskContext, TaskOutcome } from '../jobs/runner';
import { Cron } from 'croner';
import { settleExecution } from '../jobs/store';
import { REPLICATION_JOB } from '../replication/run';
import { IMMUTABLE_RESTORE_JOB } from './immutability-restore';
import { RETENTION_JOB } from './retention';
import { boundedLog, nothingToCollect, parseGcOutput } from './gc-output';
import { allManifests, allTags, executionResults, failUnfinishedTasks, gcSchedule, liveLeaseTasks, projectsKeepingUntagged, setExecutionResult, setGcSchedule, type ManifestRow } from './gc-store';
import { gcMayStartAt, holdWindowForGc, pushTokensUntil, readOnlyState, releaseWindowForGc } from './state';

/** The job kind of a garbage collection: one task, run on the instance that supervises the registry. */
export const GC_JOB = 'gc';

/** What the command line runs on the registry's host when this instance does not supervise it. */
export const GC_COMMAND = 'wharf gc';

/** Where the registry's garbage collection runs: the supervised registry's binary, config and storage. */
export interface GcHost {
  binary: string;
  configFile: string;
  storageRoot: string;
}

/**
 * Kept on job_executions.result. `phase`: queued → untagged (deleting untagged images) → waiting
 * (the read-only window is on, waiting for push tokens to expire) → collecting → done.
 */
export interface GcResult {
  phase: 'queued' | 'untagged' | 'waiting' | 'collecting' | 'done';
  deleteUntagged: boolean;
  windowSince: string | null;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Untagged images deleted through Wharf's API before the window (a dry run: those it would delete). */
  untaggedDeleted: number;
  log: string;
}

export interface GcRun {
  id: number;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  trigger: Trigger;
  dryRun: boolean;
  deleteUntagged: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  error: string | null;
}

const LOG_MAX = 256 * 1024;

const emptyResult = (deleteUntagged: boolean): GcResult => ({
  phase: 'queued',
  deleteUntagged,
  windowSince: null,
  manifestsDeleted: 0,
  blobsDeleted: 0,
  bytesFreed: 0,
  untaggedDeleted: 0,
  log: '',
});

function parseResult(text: string | undefined): GcResult | null {
  if (!text) return null;
  try {
    return { ...emptyResult(false), ...(JSON.parse(text) as Partial<GcResult>) };
  } catch {
    return null;
  }
}

/** The API's view: "pending" until the collection itself runs (also while the window waits for tokens). */
function runView(e: ExecutionView, result: GcResult | null): GcRun {
  const collecting = result?.phase === 'collecting' || result?.phase === 'done';
  const status = e.finishedAt !== null ? (e.status === 'succeeded' ? 'succeeded' : 'failed') : collecting ? 'running' : 'pending';
  return {
    id: e.id,
    status,
    trigger: e.trigger,
    dryRun: e.dryRun,
    deleteUntagged: result?.deleteUntagged ?? false,
    startedAt: e.startedAt,
    finishedAt: e.finishedAt,
    manifestsDeleted: result?.manifestsDeleted ?? 0,
    blobsDeleted: result?.blobsDeleted ?? 0,
    bytesFreed: result?.bytesFreed ?? 0,
    error: e.error ?? (e.failed > 0 ? 'garbage collection failed (see the log)' : null),
  };
}

export async function listGcRuns(db: Deps['db'], limit = 50): Promise<GcRun[]> {
  const executions = await listExecutions(db, { kind: GC_JOB, limit });
  const results = await executionResults(
    db,
    executions.map((e) => e.id),
  );
  return executions.map((e) => runView(e, parseResult(results.get(e.id))));
}

export async function getGcRun(db: Deps['db'], id: number): Promise<(GcRun & { log: string }) | null> {
  const e = await getExecution(db, id);
  if (!e || e.kind !== GC_JOB) return null;
  const result = parseResult((await executionResults(db, [id])).get(id));
  const view = runView(e, result);
  const [task] = await listTasks(db, id, { limit: 1 });
  return { ...view, error: task?.error ?? view.error, log: result?.log ?? '' };
}

/**
 * Starts a run: one execution with one task. 409 gc.running while one has not finished; 409
 * gc.notSupervised on an instance that does not supervise the registry (unless `anywhere`: the
 * cron trigger, whose execution the supervising instance claims).
 */
export async function startGc(ctx: Ctx, opts: { dryRun: boolean; deleteUntagged: boolean; trigger: Trigger; anywhere?: boolean }): Promise<GcRun> {
  if (!ctx.deps.gcHost && !opts.anywhere) throw fail(409, 'conflict', 'gc.notSupervised', { command: GC_COMMAND });
  await releaseStaleGcWindow(ctx.deps);
  const [last] = await listExecutions(ctx.db, { kind: GC_JOB, limit: 1 });
  const e = await createExecution(ctx, {
    kind: GC_JOB,
    subject: 'registry',
    trigger: opts.trigger,
    dryRun: opts.dryRun,
    concurrency: 1,
    tasks: [{ payload: { deleteUntagged: opts.deleteUntagged } }],
    unlessUnfinished: true,
  });
  if (last && e.id <= last.id) throw fail(409, 'conflict', 'gc.running', { id: e.id });
  const result = emptyResult(opts.deleteUntagged);
  await setExecutionResult(ctx.db, e.id, result);
  return runView(e, result);
}

/** Runs `binary args…`, both streams in one text (redacted); aborts with the signal. */
function runRegistry(binary: string, args: string[], signal: AbortSignal, redact: (s: string) => string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      // Bounded while it runs: a registry with many blobs prints a line for each.
      while (size > LOG_MAX * 4 && chunks.length > 1) size -= chunks.shift()!.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output: redact(Buffer.concat(chunks).toString('utf8')) }));
  });
}

/** Bytes of every file under `root` (what `du --apparent-size -b` says), read one directory at a time. */
export async function diskUsage(root: string): Promise<number> {
  let total = 0;
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    let handle;
    try {
      handle = await opendir(dir);
    } catch {
      continue;
    }
    for await (const entry of handle) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) dirs.push(file);
      else if (entry.isFile()) total += (await stat(file).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}

const blobFile = (root: string, digest: string) => {
  const hex = digest.slice('sha256:'.length);
  return path.join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
};

/** Size of a blob on disk, and whether it is a manifest or an index (a small JSON document that says so). */
async function blobFacts(root: string, digest: string): Promise<{ size: number; manifest: boolean }> {
  const file = blobFile(root, digest);
  const size = (await stat(file).catch(() => ({ size: 0 }))).size;
  if (size === 0 || size > 4 * 1024 * 1024) return { size, manifest: false };
  const handle = await open(file, 'r');
  try {
    const text = (await handle.readFile()).toString('utf8');
    const doc = JSON.parse(text) as { schemaVersion?: unknown; mediaType?: unknown; layers?: unknown; manifests?: unknown; fsLayers?: unknown };
    return { size, manifest: typeof doc.schemaVersion === 'number' && (Array.isArray(doc.layers) || Array.isArray(doc.manifests) || Array.isArray(doc.fsLayers)) };
  } catch {
    return { size, manifest: false };
  } finally {
    await handle.close();
  }
}

/**
 * The untagged images to delete: no tag, not a child of a tagged index, not an accessory (signature,
 * SBOM) of an image that stays, and not in a project whose retention policy keeps untagged images.
 */
export async function untaggedToDelete(db: Deps['db']): Promise<ManifestRow[]> {
  const [manifests, tags, keepProjects] = await Promise.all([allManifests(db), allTags(db), projectsKeepingUntagged(db)]);
  const key = (repositoryId: number, digest: string) => `${repositoryId}@${digest}`;
  const kept = new Set(tags.map((t) => key(t.repositoryId, t.digest)));
  for (const m of manifests) {
    if (!m.children || !kept.has(key(m.repositoryId, m.digest))) continue;
    for (const c of JSON.parse(m.children) as { digest: string }[]) kept.add(key(m.repositoryId, c.digest));
  }
  // An accessory stays with its subject (twice: a signature of a signature).
  for (let pass = 0; pass < 2; pass++)
    for (const m of manifests) if (m.subject && kept.has(key(m.repositoryId, m.subject))) kept.add(key(m.repositoryId, m.digest));
  const untagged = manifests.filter((m) => !kept.has(key(m.repositoryId, m.digest)) && !keepProjects.has(m.projectId));
  // Indexes first: their untagged children go after them.
  return [...untagged.filter((m) => m.children), ...untagged.filter((m) => !m.children)];
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export const gcPolicy = (deps: Deps) => (): RetryPolicy => ({ maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: deps.config.storage.gc.timeoutMs });

/**
 * The task of a GC execution. Idempotent: a task that runs again after a crash picks up at its
 * phase (the window it held is taken again; collection runs again, which the registry allows).
 */
export function gcHandler(deps: Deps, host: GcHost) {
  return async (task: TaskContext): Promise<TaskOutcome> => {
    const db = deps.db;
    const id = task.executionId;
    const deleteUntagged = task.payload.deleteUntagged === true;
    const result: GcResult = parseResult((await executionResults(db, [id])).get(id)) ?? emptyResult(deleteUntagged);
    result.deleteUntagged = deleteUntagged;
    const lines: string[] = result.log ? [result.log] : [];
    const note = (line: string) => {
      lines.push(`${isoTime(deps.clock.now())} ${line}`);
    };
    const save = async (phase: GcResult['phase']) => {
      result.phase = phase;
      result.log = boundedLog(lines.join('\n'), LOG_MAX);
      lines.splice(0, lines.length, result.log);
      await setExecutionResult(db, id, result);
    };
    const collect = async (dry: boolean) => {
      const args = ['garbage-collect', ...(dry ? ['--dry-run'] : []), host.configFile];
      const run = await runRegistry(host.binary, args, task.signal, deps.redactRegistryOutput);
      if (task.signal.aborted) throw new Error('garbage collection interrupted');
      if (run.code !== 0 && !nothingToCollect(run.output)) {
        lines.push(run.output);
        await save(result.phase);
        throw new Error(`registry garbage-collect exited with ${run.code}: ${run.output.trim().split('\n').slice(-1)[0] ?? ''}`);
      }
      return { output: run.output, parsed: parseGcOutput(run.output) };
    };

    // 1. Untagged images through Wharf's own delete, before the window (deletes are refused in it).
    if (deleteUntagged && (result.phase === 'queued' || result.phase === 'untagged')) {
      await save('untagged');
      const ctx = contextFor(deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
      const untagged = await untaggedToDelete(db);
      let done = 0;
      for (const m of untagged) {
        if (task.signal.aborted) throw new Error('garbage collection interrupted');
        if (task.dryRun) {
          note(`would delete untagged ${m.repository}@${m.digest}`);
          done++;
          continue;
        }
        try {
          await deleteImage(ctx, m.repository, m.digest, { force: false });
          note(`deleted untagged ${m.repository}@${m.digest}`);
          done++;
        } catch (err) {
          note(`kept untagged ${m.repository}@${m.digest}: ${(err as Error).message}`);
        }
      }
      result.untaggedDeleted = done;
      note(`${done} untagged images ${task.dryRun ? 'to delete' : 'deleted'}`);
    }

    if (task.dryRun) {
      await save('collecting');
      const { output, parsed } = await collect(true);
      lines.push(output.trimEnd());
      let bytes = 0;
      let manifests = 0;
      for (const digest of parsed.eligibleBlobs) {
        const facts = await blobFacts(host.storageRoot, digest);
        bytes += facts.size;
        if (facts.manifest) manifests++;
      }
      result.blobsDeleted = parsed.eligibleBlobs.length;
      result.manifestsDeleted = manifests + parsed.eligibleManifests.length + result.untaggedDeleted;
      result.bytesFreed = bytes;
      note(`dry run: ${result.blobsDeleted} blobs (${bytes} bytes) and ${result.manifestsDeleted} manifests would be deleted`);
      await finish(deps, id, result, true);
      await save('done');
      return { status: 'succeeded', reason: `dry run: ${result.blobsDeleted} blobs, ${bytes} bytes` };
    }

    // 2. The window: no push or delete token from now; wait for those issued before to expire.
    const heldSince = result.windowSince;
    const since = await takeGcWindow(deps, id, result);
    try {
      if (since !== heldSince || (result.phase !== 'waiting' && result.phase !== 'collecting')) {
        note('read-only window on: waiting for push tokens to expire and for jobs writing into the registry to end');
        await save('waiting');
      }
      for (;;) {
        const wait = await gcWaitMs(deps, since);
        if (wait <= 0) break;
        await sleep(Math.min(wait, 1000), task.signal);
        if (task.signal.aborted) throw new Error('garbage collection interrupted while waiting for push tokens to expire');
      }
      await save('collecting');
      // The dry run first, in the window: which of the blobs the sweep deletes are manifests.
      const preview = await collect(true);
      const manifestBlobs = new Set<string>();
      for (const digest of preview.parsed.eligibleBlobs) if ((await blobFacts(host.storageRoot, digest)).manifest) manifestBlobs.add(digest);
      const before = await diskUsage(host.storageRoot);
      const { output, parsed } = await collect(false);
      const after = await diskUsage(host.storageRoot);
      lines.push(output.trimEnd());
      const deleted = parsed.deletedBlobs.length > 0 ? parsed.deletedBlobs : parsed.eligibleBlobs;
      result.blobsDeleted = deleted.length;
      result.manifestsDeleted = deleted.filter((d) => manifestBlobs.has(d)).length + parsed.eligibleManifests.length;
      result.bytesFreed = Math.max(0, before - after);
      note(`collected: ${result.blobsDeleted} blobs, ${result.manifestsDeleted} manifests, ${result.bytesFreed} bytes freed (storage ${before} → ${after} bytes)`);
      await finish(deps, id, result, false);
      await save('done');
    } finally {
      await releaseWindowForGc(db, id);
    }
    return { status: 'succeeded', reason: `${result.blobsDeleted} blobs, ${result.bytesFreed} bytes freed` };
  };
}

/**
 * Takes the read-only window for run `id` (409 gc.running while another run holds it); answers
 * since when the window is on, kept in `result.windowSince`. A run that still holds it (claimed
 * again after a crash) keeps its start; one that gave it back (a failed try) starts it anew, as
 * pushes went on in between.
 */
export async function takeGcWindow(deps: Pick<Deps, 'db' | 'clock'>, id: number, result: GcResult): Promise<string> {
  const held = (await readOnlyState(deps.db)).gcExecutionId === id;
  const since = held && result.windowSince ? result.windowSince : isoTime(deps.clock.now());
  if (!(await holdWindowForGc(deps.db, id, since))) {
    const holder = (await readOnlyState(deps.db)).gcExecutionId;
    throw fail(409, 'conflict', 'gc.running', { id: holder ?? 0 });
  }
  result.windowSince = since;
  return since;
}

/** The job kinds that write into this registry: GC waits until none of their tasks runs (a replication copy started before the window). */
export const REGISTRY_WRITER_JOBS = [REPLICATION_JOB, IMMUTABLE_RESTORE_JOB, RETENTION_JOB];

/** How often the wait looks again while such a task runs. */
const WRITER_POLL_MS = 1000;

/**
 * Milliseconds the collection still waits in a window on since `since` (0 or less: it may start):
 * until the push tokens issued before it have expired, and while a task of a kind that writes into
 * the registry runs on a live lease (refused by the window, it goes back to pending and waits).
 */
export async function gcWaitMs(deps: Pick<Deps, 'db' | 'clock' | 'config'>, since: string): Promise<number> {
  const pushTokenSeconds = Math.min(deps.config.token.expiresIn, deps.config.storage.pushTokenExpiresIn ?? deps.config.token.expiresIn);
  const at = gcMayStartAt({ sinceMs: Date.parse(since), pushTokensUntilMs: await pushTokensUntil(deps.db), pushTokenSeconds, leewaySeconds: deps.config.storage.tokenLeewaySeconds });
  const now = deps.clock.now();
  const writers = await liveLeaseTasks(deps.db, { kinds: REGISTRY_WRITER_JOBS, nowMs: now }, 1);
  return writers.length > 0 ? Math.max(at - now, WRITER_POLL_MS) : at - now;
}

async function finish(deps: Deps, id: number, result: GcResult, dryRun: boolean): Promise<void> {
  const execution = await getExecution(deps.db, id);
  await transaction(deps.db, (tx) =>
    recordAudit(tx, {
      username: execution?.createdBy ?? SYSTEM_ACTOR.username,
      action: 'gc_run',
      resourceType: 'system',
      resource: 'gc',
      detail: JSON.stringify({
        execution: id,
        dryRun,
        deleteUntagged: result.deleteUntagged,
        manifestsDeleted: result.manifestsDeleted,
        blobsDeleted: result.blobsDeleted,
        bytesFreed: result.bytesFreed,
        untaggedDeleted: result.untaggedDeleted,
      }),
    }),
  );
}

/** Registers the GC task on an instance that supervises the registry (only it can run the registry's GC). */
export function registerGcJob(deps: Deps, host: GcHost): void {
  deps.jobs.register(GC_JOB, gcHandler(deps, host), gcPolicy(deps));
}

/**
 * The window of a run that is over (finished, failed, stopped, gone) or that nobody runs (no task on
 * a live lease: its process was killed) is given back: a crash in the middle of a GC must not leave
 * the registry read-only. Called at start, when a GC execution finishes, when a GC starts and when
 * an admin turns the window off.
 */
export async function releaseStaleGcWindow(deps: Pick<Deps, 'db' | 'log' | 'clock'>): Promise<boolean> {
  const { gcExecutionId } = await readOnlyState(deps.db);
  if (gcExecutionId === null) return false;
  const execution = await getExecution(deps.db, gcExecutionId);
  if (execution && execution.finishedAt === null && (await liveLeaseTasks(deps.db, { executionId: gcExecutionId, nowMs: deps.clock.now() }, 1)).length > 0) return false;
  await releaseWindowForGc(deps.db, gcExecutionId);
  deps.log.warn({ execution: gcExecutionId }, 'read-only window of a garbage collection that is over released');
  return true;
}

/** The GC schedule (storage_state.gcCron), run on the leader; the runs it starts are ordinary GC executions. */
export function scheduleGc(deps: Deps): Scheduled {
  const cron = new CronTriggers(deps.log.child({ component: 'gc-cron' }));
  let current: string | null = null;
  const sync = async () => {
    const schedule = await gcSchedule(deps.db);
    if (schedule.cron === current) return;
    current = schedule.cron;
    if (!schedule.cron) return cron.delete('gc');
    cron.set('gc', schedule.cron, async () => {
      if (await hasUnfinishedExecution(deps.db, GC_JOB, null)) {
        deps.log.info('garbage collection cron firing skipped: the previous run has not finished');
        return;
      }
      const now = await gcSchedule(deps.db);
      const ctx = contextFor(deps, SYSTEM_PRINCIPAL, SYSTEM_ACTOR);
      await startGc(ctx, { dryRun: false, deleteUntagged: now.deleteUntagged, trigger: 'cron', anywhere: true });
    });
  };
  const tick = () => void sync().catch((err: Error) => deps.log.warn({ err: err.message }, 'garbage collection schedule not read'));
  tick();
  const timer = setInterval(tick, 30_000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      cron.stopAll();
    },
  };
}

export { gcSchedule };

/** Least time between two scheduled runs: each one keeps the registry read-only for a while. */
const GC_MIN_INTERVAL_MS = 3_600_000;

/** Why a (valid) cron fires too often for garbage collection, from its next runs; null when it does not. */
function tooOften(cron: string): string | null {
  const runs = new Cron(cron, { paused: true }).nextRuns(50);
  for (let i = 1; i < runs.length; i++)
    if (runs[i]!.getTime() - runs[i - 1]!.getTime() < GC_MIN_INTERVAL_MS)
      return `it runs at ${runs[i - 1]!.toISOString()} and again at ${runs[i]!.toISOString()}; garbage collection runs at most once an hour`;
  return null;
}

/** Sets the GC schedule (null: none); 400 gc.badCron for an expression that is not cron, nothing changed. Audited. */
export async function setGcScheduleOf(ctx: Ctx, input: { cron: string | null; deleteUntagged?: boolean | undefined }): Promise<{ cron: string | null; deleteUntagged: boolean }> {
  const cron = input.cron === null ? null : input.cron.trim();
  if (cron !== null) {
    const problem = cron.length > 200 ? 'longer than 200 characters' : cronProblem(cron);
    if (problem) throw badRequest('gc.badCron', { cron, problem });
    const often = tooOften(cron);
    if (often) throw badRequest('gc.badCron', { cron, problem: often });
  }
  return transaction(ctx.db, async (tx) => {
    const before = await gcSchedule(tx);
    const next = { cron, deleteUntagged: input.deleteUntagged ?? before.deleteUntagged };
    await setGcSchedule(tx, next);
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'gc_schedule_set',
      resourceType: 'system',
      resource: 'gc',
      sourceIp: ctx.actor.ip,
      userAgent: ctx.actor.userAgent ?? null,
      detail: JSON.stringify({ before, after: next }),
    });
    return next;
  });
}

/**
 * `wharf gc` was interrupted (SIGINT, SIGTERM) after its runner stopped: the execution's unfinished
 * task fails with `reason`, the execution settles failed, and its window is given back.
 */
export async function endInterruptedGc(deps: Pick<Deps, 'db' | 'clock' | 'log'>, id: number, reason: string): Promise<void> {
  const at = isoTime(deps.clock.now());
  await failUnfinishedTasks(deps.db, id, reason, at);
  await settleExecution(deps.db, id, at);
  await releaseWindowForGc(deps.db, id);
  deps.log.warn({ execution: id }, 'garbage collection interrupted: execution failed, read-only window released');
}
