import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp, createNotificationApp } from './app';
import { systemClock, type Clock } from './clock';
import type { Config } from './config/schema';
import type { OpenDb } from './db/open';
import { openConfiguredDatabase } from './db/connect';
import { trustedProxyList } from './http/client-address';
import type { Deps } from './deps';
import type { AppEnv } from './http/env';
import { CredentialCache } from './identity/credential-cache';
import { LoginThrottle } from './identity/throttle';
import { bootstrapInstance } from './bootstrap';
import { pruneAuditBudget } from './audit/record';
import { pruneGrants } from './token/grants';
import { createLog, logLevelOf, type Log } from './log';
import { createMetrics } from './metrics';
import { instanceSecret, notificationListener, notificationUrl } from './registry/config';
import { explainTakenRegistryPort } from './registry/packaged-service';
import { findRegistryBinary, RegistrySupervisor } from './registry/supervisor';
import { secretRedactor } from './registry/redact';
import { createRegistryStorage, REGISTRY_PID_FILE, secureDataDir } from './data-dir';
import { RegistryClient } from './registry/client';
import { ManifestDetails } from './artifacts/details';
import { UsageRefresh } from './storage/quota';
import { internalTokenSource } from './storage/internal-tokens';
import { Deletions } from './artifacts/delete';
import { robotCredential } from './access/robots';
import { systemRobotCredential } from './access/system-robots';
import { SecretBox } from './replication/sealed';
import { WEBHOOK_JOB } from './webhooks/queue';
import { webhookHandler, webhookRetryPolicy } from './webhooks/send';
import { WebhookDispatcher } from './webhooks/dispatch';
import { scheduleDeliveryPurge } from './webhooks/purge';
import type { RegistryEndpoint } from './replication/remote';
import { recordRunFinished, REPLICATION_JOB, replicationHandler, replicationRetryPolicy } from './replication/run';
import { IMMUTABLE_RESTORE_JOB, restoreHandler, restoreRetryPolicy } from './storage/immutability-restore';
import { ReplicationTriggers } from './replication/triggers';
import { GC_JOB, registerGcJob, releaseStaleGcWindow, scheduleGc } from './storage/gc';
import { passwordCredential, personalTokenCredential } from './identity/authenticate';
import { Reconciler, registerReconcileJob, scheduleReconcile } from './artifacts/reconcile';
import { RETENTION_JOB } from './storage/retention';
import { retentionHandler, retentionRetryPolicy } from './storage/retention-run';
import { RetentionTriggers } from './storage/retention-triggers';
import { JobRunner } from './jobs/runner';
import { electionLockFor, Leadership, type Scheduled } from './db/leadership';
import { namedLocksFor } from './db/named-locks';
import { Directory } from './identity/ldap';
import { TokenSigner } from './token/signer';
import { INTERNAL_SUBJECT, REPLICATION_SUBJECT } from './identity/principal';
import { loadRotatingSigningKey } from './token/rotation';
import { NotificationSecrets, readNotificationSecrets } from './events/notification-secret';
import { RotationWatch } from './registry/rotation-watch';
import { StorageAlarm } from './db/storage';
import { scheduleAuditRetention } from './audit/retention';
import { AuditForwarder } from './audit/forward';
import path from 'node:path';

export interface Wharf {
  deps: Deps;
  database: OpenDb;
  server: ServerType;
  /** The address Wharf actually listens on. */
  url: string;
  supervisor: RegistrySupervisor | null;
  registryConfigFile: string;
  /** Applies rotated keys and secrets (polled; SIGHUP calls reload). */
  rotation: RotationWatch;
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Log;
  clock?: Clock;
  /** Where a generated admin password is announced (once); stdout by default. */
  announce?: (line: string) => void;
  /** Adds routes or middleware to the app before the server starts listening (benchmarks, tests). */
  extend?: (app: Hono<AppEnv>) => void;
}

function splitHostPort(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(hostPort.slice(at + 1)) };
}

export interface Instance {
  deps: Deps;
  database: OpenDb;
  registryConfigFile: string;
  /** Applies rotated keys and secrets; startWharf starts its poll. */
  rotation: RotationWatch;
  /** Replication's event dispatch and cron triggers; startWharf schedules them on the leader. */
  replication: ReplicationTriggers;
  retention: RetentionTriggers;
  /** Starts deps.jobs claiming tasks (once); close() stops it, returning its running tasks to pending. */
  startJobs(): { stop(): Promise<void> };
  close(): Promise<void>;
}

/**
 * Everything but the HTTP server: database (migrated), signing key, registry configuration,
 * registry client, tag-state workers. The server and the CLI both start here.
 */
export async function buildInstance(config: Config, opts: { log?: Log; clock?: Clock } = {}): Promise<Instance> {
  const log = opts.log ?? createLog(logLevelOf(config));
  const clock = opts.clock ?? systemClock;
  // SQLite's file is in the data directory, checked first; a PostgreSQL database that cannot be
  // used stops the start before anything is written there.
  const onSqlite = config.database.url === '';
  if (onSqlite) secureDataDir(config, log);
  const database = await openConfiguredDatabase(config, log);
  const { db } = database;
  try {
    if (!onSqlite) secureDataDir(config, log);
    const { key, files: keyFiles } = await loadRotatingSigningKey(
      {
        dataDir: config.dataDir,
        algorithm: config.token.algorithm,
        keyFile: config.token.keyFile,
        certFile: config.token.certFile,
        commonName: `${config.token.issuer} token signer`,
      },
      log,
    );
    const secretBox = SecretBox.load(config.dataDir);
    const read = readNotificationSecrets(config.dataDir);
    const notificationSecrets = new NotificationSecrets(read.current, read.next);
    const tokenSigner = new TokenSigner(key);
    const rotation = new RotationWatch({ config, log: log.child({ component: 'rotation' }), files: keyFiles, signer: tokenSigner, secrets: notificationSecrets });
    const registryConfigFile = rotation.registryConfigFile;
    const redactRegistryOutput = secretRedactor(
      [instanceSecret(config.dataDir, 'registry-http-secret'), config.metrics.token, config.ldap.bindPassword, config.admin.password],
      () => [notificationSecrets.current, notificationSecrets.next],
    );
    const metrics = createMetrics();
    const registry = new RegistryClient(config.registry.url, {
      caFile: config.registry.caFile,
      // Push and delete tokens are noted for garbage collection and refused in its window.
      tokenSource: internalTokenSource({ db, clock, config, tokenSigner }, INTERNAL_SUBJECT),
    });
    const localRegistry: RegistryEndpoint = {
      url: config.registry.url,
      caPem: config.registry.caFile ? readFileSync(config.registry.caFile, 'utf8') : null,
      tokenSource: internalTokenSource({ db, clock, config, tokenSigner }, REPLICATION_SUBJECT),
    };
    const usage = new UsageRefresh({ db, clock, log, metrics });
    const details = new ManifestDetails(db, registry, log, undefined, (item) => usage.noteRepository(item.repository));
    const reconciler = new Reconciler(
      { db, clock, registry, log, defaultProject: config.defaultProject.name, onUnknownDetails: (items) => details.enqueue(items) },
      (report) => {
        metrics.reconcileDuration.observe(report.durationMs / 1000);
        for (const kind of ['added', 'removed', 'repaired'] as const) metrics.reconcileDrift.inc({ kind }, report[kind]);
        usage.recomputeAll().catch((err: Error) => log.warn({ err: err.message }, 'quota usage not recomputed after reconcile'));
      },
    );
    const namedLocks = namedLocksFor(config.database, log);
    const leadership = new Leadership(electionLockFor(config.database), {
      log: log.child({ component: 'leadership' }),
      onChange: (leading) => metrics.schedulerLeader.set(leading ? 1 : 0),
    });
    const jobs = new JobRunner({ db, clock, log: log.child({ component: 'jobs' }), metrics, config: config.jobs });
    // Reconcile stays with the scheduler's instance, as before it became a job.
    registerReconcileJob(jobs, reconciler, log, () => leadership.leading);
    const deps: Deps = {
      db,
      config,
      log,
      clock,
      tokenSigner,
      metrics,
      notificationSecrets,
      redactRegistryOutput,
      trustedProxies: trustedProxyList(config.trustProxy),
      credentialCache: new CredentialCache(config.auth.credentialCacheSeconds * 1000, clock),
      credentialVerifiers: [systemRobotCredential, robotCredential, personalTokenCredential, passwordCredential],
      throttle: new LoginThrottle(db, clock, {
        maxFailures: config.auth.maxFailures,
        maxFailuresPerAddress: config.auth.maxFailuresPerAddress,
        windowMs: config.auth.failureWindowSeconds * 1000,
        lockoutMs: config.auth.lockoutSeconds * 1000,
      }),
      registryHealth: () => registry.ping(),
      registry,
      details,
      reconciler,
      jobs,
      deletions: new Deletions(namedLocks),
      leadership,
      directory: new Directory(config.ldap, log.child({ component: 'ldap' })),
      storageAlarm: new StorageAlarm(clock, log),
      secretBox,
      localRegistry,
      usage,
    };
    const replication = new ReplicationTriggers(deps);
    deps.replication = replication;
    jobs.register(REPLICATION_JOB, replicationHandler(deps), replicationRetryPolicy(deps));
    jobs.register(IMMUTABLE_RESTORE_JOB, restoreHandler(deps), restoreRetryPolicy);
    const retention = new RetentionTriggers(deps);
    deps.retention = retention;
    jobs.register(RETENTION_JOB, retentionHandler(deps), retentionRetryPolicy);
    jobs.register(WEBHOOK_JOB, webhookHandler(deps), webhookRetryPolicy(deps));
    let jobsRun: { stop(): Promise<void> } | null = null;
    return {
      deps,
      database,
      registryConfigFile,
      rotation,
      replication,
      retention,
      startJobs() {
        jobsRun ??= jobs.start();
        return jobsRun;
      },
      async close() {
        await leadership.stop();
        await jobsRun?.stop();
        await rotation.stop();
        await Promise.race([Promise.all([reconciler.idle(), details.idle().then(() => usage.idle())]), new Promise((r) => setTimeout(r, 5000))]);
        await namedLocks.close();
        await registry.close();
        await database.close();
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

/**
 * Dead login-throttle, audit-budget and token-grant rows go in small batches once a minute, so a
 * flood of failing names or made-up repositories never grows those tables for long.
 */
function schedulePrunes(deps: Deps): Scheduled {
  const pruneOnce = async () => {
    try {
      await deps.throttle.prune();
      await pruneAuditBudget(deps.db, deps.clock.now());
      await pruneGrants(deps.db, deps.clock.now(), deps.config.token.expiresIn);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'prune of throttle, audit budget or token grants failed');
    }
  };
  const prune = setInterval(() => void pruneOnce(), 60_000);
  prune.unref();
  return { stop: () => clearInterval(prune) };
}

/** Opens the database, keys and registry configuration, starts the HTTP server and (if asked) the registry. */
export async function startWharf(config: Config, opts: StartOptions = {}): Promise<Wharf> {
  const instance = await buildInstance(config, opts);
  const { deps, database, registryConfigFile } = instance;
  const { log, metrics, registry } = deps;
  try {
    // Before anything listens: a bad audit.forward (its CA file) stops the start.
    const auditForwarder = config.audit.forward.url ? new AuditForwarder({ db: deps.db, clock: deps.clock, log: log.child({ component: 'audit-forward' }), metrics, config: config.audit.forward }) : null;
    await bootstrapInstance(deps, opts.announce ?? ((line) => process.stdout.write(line + '\n')));

    const app = createApp(deps, opts.extend);
    const { host, port } = splitHostPort(config.listen);
    const tls = config.tls.certFile
      ? { createServer: createHttpsServer, serverOptions: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } }
      : {};
    const server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port, ...tls }, () => resolve(s));
      s.once('error', reject);
    });
    const address = server.address() as AddressInfo;
    const url = `${config.tls.certFile ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    log.info({ url, publicUrl: config.publicUrl, registryConfigFile }, 'wharf listening');

    // With TLS, the registry posts its notifications to a plain-HTTP listener on loopback, so it
    // need not trust Wharf's certificate for 127.0.0.1; the registry config gets its bound port.
    let notifyServer: ServerType | null = null;
    const loopback = notificationListener(config);
    if (loopback) {
      try {
        notifyServer = await new Promise<ServerType>((resolve, reject) => {
          const s = serve({ fetch: createNotificationApp(deps).fetch, hostname: loopback.host, port: loopback.port }, () => resolve(s));
          s.once('error', reject);
        });
      } catch (err) {
        server.close();
        throw err;
      }
      const loopbackPort = (notifyServer.address() as AddressInfo).port;
      instance.rotation.setLoopbackPort(loopbackPort);
      log.info({ url: notificationUrl(config, loopbackPort) }, 'registry notifications on loopback');
    }
    const closeServers = () => {
      server.close();
      notifyServer?.close();
    };

    let supervisor: RegistrySupervisor | null = null;
    if (config.registry.manage !== 'false') {
      const binary = findRegistryBinary(config.registry.binary);
      if (!binary) {
        if (config.registry.manage === 'true') {
          closeServers();
          throw new Error('registry.manage is true but no registry binary (registry or docker-registry) was found on PATH');
        }
        log.warn('no registry binary on PATH; not supervising a registry (run it yourself with the generated config)');
      } else {
        createRegistryStorage(config);
        supervisor = new RegistrySupervisor({
          binary,
          configFile: registryConfigFile,
          log: log.child({ component: 'registry' }),
          ready: () => registry.ping(),
          redact: deps.redactRegistryOutput,
          pidFile: path.join(config.dataDir, REGISTRY_PID_FILE),
          listenPort: splitHostPort(config.registry.listen).port,
          onRestart: () => metrics.registryRestarts.inc(),
        });
        try {
          await supervisor.start();
        } catch (err) {
          await supervisor.stop();
          closeServers();
          if (err instanceof Error) err.message = explainTakenRegistryPort(err.message);
          throw err;
        }
      }
    }

    instance.rotation.start(supervisor ? () => supervisor!.restart() : null);

    // Garbage collection runs beside the registry's storage: only the supervising instance claims it.
    deps.gcHost = supervisor ? { binary: findRegistryBinary(config.registry.binary)!, configFile: registryConfigFile, storageRoot: config.registry.storage } : null;
    if (deps.gcHost) registerGcJob(deps, deps.gcHost);
    deps.jobs.onFinished(GC_JOB, () => releaseStaleGcWindow(deps).then(() => undefined));
    deps.jobs.onFinished(REPLICATION_JOB, (execution) => recordRunFinished(deps, execution));
    await releaseStaleGcWindow(deps);

    // Every instance runs job tasks; the periodic jobs run on the one instance the database elects, and move when it goes.
    const jobsRun = instance.startJobs();
    const { leadership } = deps;
    leadership.schedule(() => scheduleReconcile(deps, config.reconcileIntervalSeconds * 1000));
    leadership.schedule(() => schedulePrunes(deps));
    leadership.schedule(() => instance.replication.scheduler());
    leadership.schedule(() => scheduleGc(deps));
    leadership.schedule(() => instance.retention.scheduler());
    leadership.schedule(() => scheduleAuditRetention({ db: deps.db, clock: deps.clock, log, retentionDays: config.audit.retentionDays }));
    const webhookDispatch = new WebhookDispatcher(deps);
    leadership.schedule(() => webhookDispatch.scheduler());
    leadership.schedule(() => scheduleDeliveryPurge(deps));
    if (auditForwarder) leadership.schedule(() => auditForwarder.scheduler());
    await leadership.start();

    let stopped = false;
    return {
      deps,
      database,
      server,
      url,
      supervisor,
      registryConfigFile,
      rotation: instance.rotation,
      async stop() {
        if (stopped) return;
        stopped = true;
        await instance.rotation.stop();
        await leadership.stop();
        // Before the registry goes: a task interrupted now is returned to pending, not failed against a stopped registry.
        await jobsRun.stop();
        await supervisor?.stop();
        await Promise.all(
          [server, notifyServer].map(
            (s) =>
              s &&
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                (s as { closeAllConnections?: () => void }).closeAllConnections?.();
              }),
          ),
        );
        await instance.close();
      },
    };
  } catch (err) {
    await instance.close();
    throw err;
  }
}
