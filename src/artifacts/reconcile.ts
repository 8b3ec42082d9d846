import { transaction } from '../db/transaction';
import { readSetting, writeSetting } from '../db/settings';
import { bestEffortWrite } from '../db/storage';
import type { Db } from '../db/open';
import type { Scheduled } from '../db/leadership';

import type { Log } from '../log';
import { isoTime, type Clock } from '../clock';
import { isValidRepositoryName } from '../access/roles';
import type { ManifestHead, RegistryClient } from '../registry/client';
import { recordAudit } from '../audit/record';
import { anonymous, SYSTEM_ACTOR } from '../identity/principal';
import { contextFor, type Ctx } from '../context';
import type { Deps } from '../deps';
import { createExecution, listExecutions, type ExecutionView, type Trigger } from '../jobs/executions';
import type { JobRunner, RetryPolicy } from '../jobs/runner';
import { changeMark } from './changes';
import { immutableTagAmong } from '../storage/gates';
import { IMMUTABLE_RESTORE_JOB, noteImmutableMove } from '../storage/immutability-restore';
import { unfinishedPayloadOf } from '../storage/immutability-store';

/** Who moved a tag that reconcile finds moved: the registry's event was lost, so nobody knows. */
const UNKNOWN_PUSHER = '(unknown)';
import {
  dropRepositoryIfEmpty,
  ensureRepository,
  findRepository,
  manifestsOf,
  manifestsWithoutDetails,
  removeManifest,
  removeTag,
  repositoryNames,
  tagsOf,
  upsertManifest,
  upsertTag,
} from './store';

export interface ReconcileReport {
  repositories: number;
  tags: number;
  added: number;
  removed: number;
  repaired: number;
  skipped: { repository: string; reason: string }[];
  durationMs: number;
}

export interface ReconcileDeps {
  db: Db;
  clock: Clock;
  registry: RegistryClient;
  log: Log;
  defaultProject: string;
  concurrency?: number;
  /** Called with manifests whose details are still unknown. */
  onUnknownDetails?: (items: { repository: string; digest: string }[]) => void;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

interface RemoteRepository {
  name: string;
  /** tag → manifest head; null when the registry no longer knows the repository. */
  tags: Map<string, ManifestHead> | null;
  /** Untagged manifests Wharf knows of that the registry still has. */
  untaggedAlive: Set<string>;
}

async function readRemote(registry: RegistryClient, db: Db, name: string): Promise<RemoteRepository> {
  const tagNames = await registry.tags(name);
  if (tagNames === null) return { name, tags: null, untaggedAlive: new Set() };
  const heads = new Map<string, ManifestHead>();
  for (const tag of tagNames) {
    const head = await registry.headManifest(name, tag);
    if (head?.digest) heads.set(tag, head);
  }
  // Untagged manifests (pushed by digest, index children) cannot be listed: check the known ones.
  const untaggedAlive = new Set<string>();
  const repo = await findRepository(db, name);
  if (repo) {
    const tagged = new Set([...heads.values()].map((h) => h.digest));
    const known = await manifestsOf(db, repo.id);
    for (const { digest } of known) {
      if (tagged.has(digest)) continue;
      if (await registry.headManifest(name, digest)) untaggedAlive.add(digest);
    }
  }
  return { name, tags: heads, untaggedAlive };
}

/** Brings one repository's rows in line with what the registry said; returns the drift found. */
async function applyRemote(db: Db, remote: RemoteRepository, defaultProject: string, now: string) {
  const drift = { added: 0, removed: 0, repaired: 0 };
  await transaction(db, async (tx) => {
    const existing = await findRepository(tx, remote.name);
    if (remote.tags === null || (remote.tags.size === 0 && remote.untaggedAlive.size === 0)) {
      if (existing) {
        const rows = await manifestsOf(tx, existing.id);
        for (const { digest } of rows) drift.removed += (await removeManifest(tx, existing.id, digest)).length + 1;
        const leftTags = await tagsOf(tx, existing.id);
        for (const t of leftTags) drift.removed += await removeTag(tx, existing.id, t.name);
        await dropRepositoryIfEmpty(tx, existing.id);
      }
      return;
    }
    const repo = existing ?? await ensureRepository(tx, remote.name, defaultProject);
    const currentTags = new Map(
      (await tagsOf(tx, repo.id)).map((t) => [t.name, t.digest]),
    );
    const liveDigests = new Set(remote.untaggedAlive);
    for (const [tag, head] of remote.tags) {
      liveDigests.add(head.digest);
      await upsertManifest(tx, repo.id, { digest: head.digest, mediaType: head.mediaType || null });
      const had = currentTags.get(tag);
      if (had === head.digest) continue;
      if (had !== undefined && (await immutableTagAmong(tx, remote.name, [tag], defaultProject)) !== null) {
        // An immutable tag moved at the registry (a restore pending, or a push whose notification
        // was lost): Wharf keeps it on its recorded image, and a restore puts it back there.
        if ((await unfinishedPayloadOf(tx, IMMUTABLE_RESTORE_JOB, `${remote.name}:${tag}`)) === undefined)
          await noteImmutableMove(tx, { repository: remote.name, tag, digest: head.digest, pusher: UNKNOWN_PUSHER, at: now, sourceIp: null, userAgent: null }, defaultProject);
        liveDigests.add(had);
        continue;
      }
      if (had === undefined) drift.added++;
      else drift.repaired++;
      await upsertTag(tx, repo.id, { name: tag, digest: head.digest, pushedAt: now, pushedBy: null });
    }
    for (const [tag] of currentTags) if (!remote.tags.has(tag)) drift.removed += await removeTag(tx, repo.id, tag);
    const rows = await manifestsOf(tx, repo.id);
    for (const { digest } of rows) {
      if (liveDigests.has(digest)) continue;
      drift.removed += (await removeManifest(tx, repo.id, digest)).length + 1;
    }
    await dropRepositoryIfEmpty(tx, repo.id);
  });
  return drift;
}

/**
 * Walks the registry's catalog, tags and manifests and repairs Wharf's tag state: adds what is
 * missing, drops what is gone, fixes moved tags. A repository the registry fails on is skipped and
 * keeps its state; when the catalog itself fails, nothing changes.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const started = Date.now();
  const report: ReconcileReport = { repositories: 0, tags: 0, added: 0, removed: 0, repaired: 0, skipped: [], durationMs: 0 };
  const catalogMarks = new Map<string, number>();
  for (const name of await repositoryNames(deps.db)) catalogMarks.set(name, await changeMark(deps.db, name));
  const catalog = (await deps.registry.catalog()).filter((name) => {
    if (isValidRepositoryName(name)) return true;
    report.skipped.push({ repository: name.slice(0, 300), reason: 'invalid repository name' });
    return false;
  });
  const inCatalog = new Set(catalog);
  await mapLimit(catalog, deps.concurrency ?? 4, async (name) => {
    try {
      // A push or delete that lands while the registry is being read makes the reading stale:
      // read again, and leave the repository to the next run if it keeps changing.
      let remote: RemoteRepository | null = null;
      for (let attempt = 0; attempt < 3 && !remote; attempt++) {
        const mark = await changeMark(deps.db, name);
        const read = await readRemote(deps.registry, deps.db, name);
        if (await changeMark(deps.db, name) === mark) remote = read;
      }
      if (!remote) {
        report.skipped.push({ repository: name, reason: 'changed while being read; left for the next run' });
        return;
      }
      const drift = await applyRemote(deps.db, remote, deps.defaultProject, isoTime(deps.clock.now()));
      report.repositories += remote.tags && remote.tags.size > 0 ? 1 : 0;
      report.tags += remote.tags?.size ?? 0;
      report.added += drift.added;
      report.removed += drift.removed;
      report.repaired += drift.repaired;
    } catch (err) {
      report.skipped.push({ repository: name, reason: (err as Error).message.slice(0, 200) });
      deps.log.warn({ repository: name, err: (err as Error).message }, 'reconcile skipped a repository');
    }
  });
  // Repositories Wharf knows that the catalog no longer lists, unless a push or delete touched
  // them after the catalog was read (a repository pushed meanwhile is not in it yet).
  for (const name of await repositoryNames(deps.db)) {
    if (inCatalog.has(name)) continue;
    if ((await changeMark(deps.db, name)) !== (catalogMarks.get(name) ?? 0)) continue;
    const drift = await applyRemote(deps.db, { name, tags: null, untaggedAlive: new Set() }, deps.defaultProject, isoTime(deps.clock.now()));
    report.removed += drift.removed;
  }
  const unknown = await manifestsWithoutDetails(deps.db);
  if (unknown.length > 0) deps.onUnknownDetails?.(unknown);
  report.durationMs = Date.now() - started;
  return report;
}

/** Runs reconcile one at a time: a request while one runs joins it. */
/** The settings row of the last finished reconcile, whichever instance ran it. */
const LAST_REPORT_SETTING = 'reconcile.lastReport';

/** The last finished reconcile's report, from the database (any instance's); null before the first. */
export async function lastReconcileReport(db: Db): Promise<ReconcileReport | null> {
  const value = await readSetting(db, LAST_REPORT_SETTING);
  if (!value) return null;
  try {
    return JSON.parse(value) as ReconcileReport;
  } catch {
    return null;
  }
}

export class Reconciler {
  private current: Promise<ReconcileReport> | null = null;

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly observe: (report: ReconcileReport) => void = () => {},
  ) {}

  get running(): boolean {
    return this.current !== null;
  }

  /** Resolves when no reconcile is running; starts none. */
  async idle(): Promise<void> {
    await this.current?.catch(() => undefined);
  }

  run(): Promise<ReconcileReport> {
    if (this.current) return this.current;
    this.current = reconcile(this.deps)
      .then(async (report) => {
        await bestEffortWrite(undefined, 'reconcile report', () =>
          writeSetting(this.deps.db, LAST_REPORT_SETTING, JSON.stringify({ ...report, skipped: report.skipped.slice(0, 100) })),
        );
        this.observe(report);
        this.deps.log.info({ ...report, skipped: report.skipped.length }, 'reconcile finished');
        return report;
      })
      .finally(() => {
        this.current = null;
      });
    return this.current;
  }
}

/** The job kind of a reconcile: one task, run by the instance that leads (see registerReconcileJob). */
export const RECONCILE_JOB = 'reconcile';

/** A reconcile reads the whole registry once; its failures (registry down) wait for the next run instead of a retry. */
const reconcilePolicy = (): RetryPolicy => ({ maxAttempts: 1, baseDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: 6 * 3600_000 });

/**
 * Runs reconcile executions' task with `reconciler`; `claimWhile` keeps them on the instance it
 * says (the leader's, where the scheduler ran it before); without it, this runner takes them.
 */
export function registerReconcileJob(jobs: JobRunner, reconciler: Reconciler, log: Log, claimWhile?: () => boolean): void {
  jobs.register(
    RECONCILE_JOB,
    async () => {
      try {
        const report = await reconciler.run();
        return { status: 'succeeded', reason: `added ${report.added}, removed ${report.removed}, repaired ${report.repaired}, skipped ${report.skipped.length}` };
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'reconcile failed; tag state left as it was');
        throw err;
      }
    },
    reconcilePolicy,
    claimWhile ? { claimWhile } : {},
  );
}

/** A reconcile execution of one task, unless one is pending or running already (then that one). */
export const requestReconcile = (ctx: Ctx, trigger: Trigger): Promise<ExecutionView> =>
  createExecution(ctx, { kind: RECONCILE_JOB, subject: 'tag-state', trigger, concurrency: 1, tasks: [{ payload: {} }], unlessUnfinished: true });

/** Whether a reconcile execution is pending or running on any instance. */
export async function reconcileUnderway(db: Db): Promise<boolean> {
  const [last] = await listExecutions(db, { kind: RECONCILE_JOB, limit: 1 });
  return last !== undefined && last.finishedAt === null;
}

/** Asks for a reconcile now, then every `everyMs` (0: only now): the reconcile scheduler of the leading instance. */
export function scheduleReconcile(deps: Deps, everyMs: number): Scheduled {
  // Wharf itself asks, as it adopts repositories: no caller to name.
  const ctx = contextFor(deps, anonymous, SYSTEM_ACTOR);
  const ask = () => requestReconcile(ctx, 'schedule').catch((err: Error) => deps.log.warn({ err: err.message }, 'could not start a reconcile'));
  void ask();
  const interval = everyMs > 0 ? setInterval(() => void ask(), everyMs) : null;
  interval?.unref();
  return { stop: () => (interval ? clearInterval(interval) : undefined) };
}

/** A reconcile someone asked for (API or page): audited at once, run as a job in the background. */
export async function startReconcile(ctx: Ctx): Promise<ExecutionView> {
  await recordAudit(ctx.db, { username: ctx.actor.username, action: 'reconcile', resourceType: 'system', resource: 'tag-state', sourceIp: ctx.actor.ip });
  return requestReconcile(ctx, 'manual');
}
