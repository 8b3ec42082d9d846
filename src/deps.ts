import type { BlockList } from 'node:net';
import type { GcHost } from './storage/gc';
import type { UsageRefresh } from './storage/quota';
import type { Clock } from './clock';
import type { Config } from './config/schema';
import type { Db } from './db/open';
import type { CredentialCache } from './identity/credential-cache';
import type { CredentialVerifier } from './identity/authenticate';
import type { LoginThrottle } from './identity/throttle';
import type { Log } from './log';
import type { Metrics } from './metrics';
import type { TokenSigner } from './token/signer';
import type { RegistryClient } from './registry/client';
import type { ManifestDetails } from './artifacts/details';
import type { Reconciler } from './artifacts/reconcile';
import type { Deletions } from './artifacts/delete';
import type { Directory } from './identity/ldap';
import type { StorageAlarm } from './db/storage';
import type { Leadership } from './db/leadership';
import type { NotificationSecrets } from './events/notification-secret';
import type { SecretBox } from './replication/sealed';
import type { RegistryEndpoint } from './replication/remote';
import type { ReplicationHooks } from './replication/policies';
import type { JobRunner } from './jobs/runner';
import type { RetentionHooks } from './storage/retention-triggers';

/** Everything the app needs, built once by main.ts (or a test) and passed down; no module singletons. */
export interface Deps {
  db: Db;
  config: Config;
  log: Log;
  clock: Clock;
  /** Signs registry tokens with the instance's key and keeps them for reuse; per instance, never per process. */
  tokenSigner: TokenSigner;
  metrics: Metrics;
  credentialCache: CredentialCache;
  /** How a name and secret are checked, in order: robots, personal tokens, passwords. */
  credentialVerifiers: CredentialVerifier[];
  throttle: LoginThrottle;
  /** The secrets the registry may present on /service/notifications (two while one is rotated). */
  notificationSecrets: NotificationSecrets;
  /** Removes Wharf's secrets and any credentials from the registry's output before it is logged or kept. */
  redactRegistryOutput: (text: string) => string;
  /** config.trustProxy as a matcher; null when no proxy is trusted. */
  trustedProxies: BlockList | null;
  /** Whether the registry answers; the health endpoint asks. */
  registryHealth: () => Promise<boolean>;
  registry: RegistryClient;
  details: ManifestDetails;
  reconciler: Reconciler;
  /** Runs job tasks (reconcile, replication) claimed from the database; started on every instance by startWharf. */
  jobs: JobRunner;
  /** Deletes: one at a time per repository, across every instance on the database. */
  deletions: Deletions;
  /** Whether this instance is the one on the database that runs the schedulers; started by startWharf. */
  leadership: Leadership;
  /** LDAP / Active Directory; `enabled` is false while ldap.url is empty. */
  directory: Directory;
  /** Says once a minute that the disk is full, instead of once per refused request. */
  storageAlarm: StorageAlarm;
  /** Seals and opens the stored registry passwords with the data directory's replication.key. */
  secretBox: SecretBox;
  /** Wharf's own registry as replication reaches it: tokens Wharf mints for its replication subject. */
  localRegistry: RegistryEndpoint;
  /** The supervised registry's garbage collection (binary, config, storage); null or absent when this instance does not supervise it. */
  gcHost?: GcHost | null;
  /** Project storage usage, recomputed after pushes, deletes and reconcile. */
  usage: UsageRefresh;
  /** What runs replication when a policy changes; absent until the runner is wired. */
  replication?: ReplicationHooks;
  /** What follows retention policy changes (the cron triggers); absent until wired. */
  retention?: RetentionHooks;
}
