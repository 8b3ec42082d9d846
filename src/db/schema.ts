import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull().unique(),
  /** The name trimmed and case-folded: names are unique case-insensitively. Null only for rows made before it existed (filled at start). */
  usernameKey: text('username_key'),
  email: text('email'),
  /** scrypt$N$r$p$salt$hash, or a bcrypt hash imported from htpasswd; null for directory users. */
  passwordHash: text('password_hash'),
  source: text('source', { enum: ['local', 'ldap', 'htpasswd'] }).notNull().default('local'),
  admin: integer('admin', { mode: 'boolean' }).notNull().default(false),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  /** Bumped on password change and disable: refresh tokens and cached credentials of older versions die. */
  credentialVersion: integer('credential_version').notNull().default(1),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
  lastLoginAt: text('last_login_at'),
  /** When a directory user's groups were last read from the directory. */
  groupsRefreshedAt: text('groups_refreshed_at'),
}, (t) => [uniqueIndex('users_username_key').on(t.usernameKey)]);

export const projects = sqliteTable('projects', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  public: integer('public', { mode: 'boolean' }).notNull().default(false),
  /** Kept by triggers on repositories (migration list_count_triggers), so listings do not count rows. */
  repositoryCount: integer('repository_count').notNull().default(0),
  createdBy: text('created_by'),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

export const members = sqliteTable(
  'members',
  {
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['projectAdmin', 'developer', 'guest'] }).notNull(),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.userId] }), index('members_user').on(t.userId)],
);

export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** SHA-256 of the token; the token itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    credentialVersion: integer('credential_version').notNull(),
    clientId: text('client_id'),
    createdAt: text('created_at').notNull().default(now),
    expiresAt: text('expires_at').notNull(),
    lastUsedAt: text('last_used_at'),
    revokedAt: text('revoked_at'),
  },
  (t) => [uniqueIndex('refresh_tokens_hash').on(t.tokenHash), index('refresh_tokens_user').on(t.userId)],
);

export const audit = sqliteTable(
  'audit',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    time: text('time').notNull().default(now),
    username: text('username').notNull(),
    action: text('action').notNull(),
    resourceType: text('resource_type'),
    resource: text('resource'),
    project: text('project'),
    repository: text('repository'),
    tag: text('tag'),
    digest: text('digest'),
    mediaType: text('media_type'),
    sourceIp: text('source_ip'),
    userAgent: text('user_agent'),
    outcome: text('outcome').notNull().default('success'),
    /** Folded repeats of the same pull within a short window. */
    count: integer('count').notNull().default(1),
    detail: text('detail'),
    /** Repeats of the same entry within one time bucket share this key and bump `count`; null for rows that never fold. */
    foldKey: text('fold_key'),
  },
  (t) => [
    // Partial: rows that never fold (most) cost no entry in it.
    uniqueIndex('audit_fold_key').on(t.foldKey).where(sql`${t.foldKey} IS NOT NULL`),
    index('audit_time').on(t.time),
    index('audit_action_time').on(t.action, t.time),
    index('audit_user_time').on(t.username, t.time),
    index('audit_repo_time').on(t.repository, t.time),
    index('audit_project_time').on(t.project, t.time),
  ],
);

export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export const repositories = sqliteTable(
  'repositories',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull().unique(),
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'restrict' }),
    pullCount: integer('pull_count').notNull().default(0),
    lastPulledAt: text('last_pulled_at'),
    lastPushedAt: text('last_pushed_at'),
    createdAt: text('created_at').notNull().default(now),
    /** Kept by triggers on tags (migration list_count_triggers), so listings do not count rows. */
    tagCount: integer('tag_count').notNull().default(0),
  },
  (t) => [index('repositories_project').on(t.projectId, t.name)],
);

export const manifests = sqliteTable(
  'manifests',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    repositoryId: integer('repository_id')
      .notNull()
      .references(() => repositories.id, { onDelete: 'cascade' }),
    digest: text('digest').notNull(),
    mediaType: text('media_type'),
    /** Manifest + config + layers, or the sum of the children for an index; null until fetched. */
    size: integer('size'),
    /** JSON [{digest, platform}] for an index. */
    children: text('children'),
    /** JSON {os, architecture, variant} of an image, when known. */
    platform: text('platform'),
    /** The OCI 1.1 `subject` digest: the image this manifest (a signature, an SBOM) belongs to. */
    subject: text('subject'),
    pushedAt: text('pushed_at').notNull().default(now),
  },
  (t) => [uniqueIndex('manifests_repo_digest').on(t.repositoryId, t.digest)],
);

export const tags = sqliteTable(
  'tags',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    repositoryId: integer('repository_id')
      .notNull()
      .references(() => repositories.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    digest: text('digest').notNull(),
    pushedAt: text('pushed_at').notNull().default(now),
    pushedBy: text('pushed_by'),
    pullCount: integer('pull_count').notNull().default(0),
    lastPulledAt: text('last_pulled_at'),
  },
  (t) => [
    uniqueIndex('tags_repo_name').on(t.repositoryId, t.name),
    index('tags_repo_digest').on(t.repositoryId, t.digest),
    // The tag list's order: newest push first.
    index('tags_repo_pushed').on(t.repositoryId, t.pushedAt, t.name),
  ],
);

/**
 * Registry event ids already applied: the registry retries and duplicates deliveries. No index on
 * receivedAt: nothing reads by it, every event would write it, and rowid order is arrival order.
 */
export const eventsSeen = sqliteTable('events_seen', {
  id: text('id').primaryKey(),
  receivedAt: text('received_at').notNull().default(now),
});

/** Robot accounts: `robot$<project>+<name>`, a random secret kept as a SHA-256 hash. */
export const robots = sqliteTable(
  'robots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    secretHash: text('secret_hash').notNull(),
    /** Comma-separated subset of pull, push, delete. */
    permissions: text('permissions').notNull(),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    expiresAt: text('expires_at'),
    createdBy: text('created_by'),
    createdAt: text('created_at').notNull().default(now),
    lastUsedAt: text('last_used_at'),
  },
  (t) => [uniqueIndex('robots_project_name').on(t.projectId, t.name), uniqueIndex('robots_secret').on(t.secretHash)],
);

/** Personal access tokens of users, for scripts and directory users' docker logins. */
export const personalTokens = sqliteTable(
  'personal_tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    secretHash: text('secret_hash').notNull(),
    expiresAt: text('expires_at'),
    createdAt: text('created_at').notNull().default(now),
    lastUsedAt: text('last_used_at'),
  },
  (t) => [uniqueIndex('personal_tokens_user_name').on(t.userId, t.name), uniqueIndex('personal_tokens_secret').on(t.secretHash)],
);

/** The directory groups of a user, as read at their last refresh. */
export const userGroups = sqliteTable(
  'user_groups',
  {
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    groupName: text('group_name').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.groupName] }), index('user_groups_group').on(t.groupName)],
);

/** A role in a project given to every member of a directory group. */
export const groupMembers = sqliteTable(
  'group_members',
  {
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    groupName: text('group_name').notNull(),
    role: text('role', { enum: ['projectAdmin', 'developer', 'guest'] }).notNull(),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.groupName] })],
);

/** Browser sessions; the cookie holds a random value, the table only its SHA-256. */
export const sessions = sqliteTable(
  'sessions',
  {
    idHash: text('id_hash').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    credentialVersion: integer('credential_version').notNull(),
    createdAt: text('created_at').notNull().default(now),
    expiresAt: text('expires_at').notNull(),
    sourceIp: text('source_ip'),
    userAgent: text('user_agent'),
  },
  (t) => [index('sessions_user').on(t.userId), index('sessions_expires').on(t.expiresAt)],
);

/**
 * Failed logins per key (`name:<canonical name>` or `addr:<client address>`), shared by every Wharf
 * instance on the database. Times are epoch milliseconds; a row is dead once `expiresAt` passed.
 */
export const loginThrottle = sqliteTable(
  'login_throttle',
  {
    key: text('key').primaryKey(),
    failures: integer('failures').notNull(),
    windowStart: integer('window_start').notNull(),
    lockedUntil: integer('locked_until').notNull().default(0),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('login_throttle_expires').on(t.expiresAt)],
);

/**
 * The latest token grant per subject and repository, with the address that asked for it: the
 * verified source of that subject's pushes, pulls and deletes (the event's own address is claimed).
 */
export const tokenGrants = sqliteTable(
  'token_grants',
  {
    /** The token's `sub`: a user or robot name, '' for anonymous. */
    subject: text('subject').notNull(),
    repository: text('repository').notNull(),
    ip: text('ip'),
    issuedAtMs: integer('issued_at_ms').notNull(),
    /** When `ip` became the latest address: earlier events came from another one. */
    ipSinceMs: integer('ip_since_ms').notNull(),
    /** Until then a grant to another address may still be in use, so no event can be pinned to one address. */
    ambiguousUntilMs: integer('ambiguous_until_ms').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.subject, t.repository] }), index('token_grants_issued').on(t.issuedAtMs)],
);

/**
 * How many distinct folded audit rows a scope (an action, subject and address) has added in one
 * time bucket: past a cap, further targets fold into one overflow row, so random names cannot grow
 * the audit log by a row each. Dead once `expiresAt` (epoch ms) has passed.
 */
export const auditBudget = sqliteTable(
  'audit_budget',
  {
    key: text('key').primaryKey(),
    rows: integer('rows').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('audit_budget_expires').on(t.expiresAt)],
);

/**
 * A counter per repository name, bumped in the same transaction as every change that notifications
 * and Wharf's own deletes make to its tag state: reconcile compares it before and after reading the
 * registry, whichever instance made the change.
 */
export const repositoryChanges = sqliteTable('repository_changes', {
  repository: text('repository').primaryKey(),
  seq: integer('seq').notNull(),
});

/** A remote registry that replication copies to or from. The password is sealed (src/replication/sealed.ts), never stored in clear. */
export const registries = sqliteTable('registries', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  url: text('url').notNull(),
  kind: text('kind', { enum: ['distribution', 'wharf', 'harbor'] }).notNull(),
  username: text('username'),
  /** AES-256-GCM under the replication key file: base64 of iv, tag and ciphertext. */
  passwordSealed: text('password_sealed'),
  caPem: text('ca_pem'),
  insecure: integer('insecure', { mode: 'boolean' }).notNull().default(false),
  description: text('description'),
  createdBy: text('created_by'),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

/** A replication policy: push (local project → registry) or pull (registry → local project). */
export const replicationPolicies = sqliteTable('replication_policies', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  direction: text('direction', { enum: ['push', 'pull'] }).notNull(),
  registryId: integer('registry_id')
    .notNull()
    .references(() => registries.id, { onDelete: 'restrict' }),
  projectId: integer('project_id')
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  /** JSON {repositories?, excludeRepositories?, tags?, excludeTags?}: arrays of globs. */
  filters: text('filters').notNull().default('{}'),
  destination: text('destination'),
  override: integer('override', { mode: 'boolean' }).notNull().default(true),
  deletions: integer('deletions', { mode: 'boolean' }).notNull().default(false),
  triggerType: text('trigger_type', { enum: ['manual', 'event', 'cron'] }).notNull(),
  triggerCron: text('trigger_cron'),
  replicateExisting: integer('replicate_existing', { mode: 'boolean' }).notNull().default(true),
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
  concurrency: integer('concurrency').notNull().default(4),
  bandwidthKBps: integer('bandwidth_kbps'),
  description: text('description'),
  createdBy: text('created_by'),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

/**
 * Changes an event-triggered policy still has to replicate, written in the notification's own
 * transaction (an outbox) and turned into an execution once the debounce has passed.
 */
export const replicationEvents = sqliteTable(
  'replication_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    policyId: integer('policy_id')
      .notNull()
      .references(() => replicationPolicies.id, { onDelete: 'cascade' }),
    operation: text('operation', { enum: ['copy', 'delete'] }).notNull(),
    repository: text('repository').notNull(),
    tag: text('tag'),
    digest: text('digest'),
    /** Epoch ms: when the change was seen. */
    seenAt: integer('seen_at').notNull(),
  },
  (t) => [index('replication_events_policy').on(t.policyId, t.seenAt)],
);

/** One run of a job (a replication policy's execution, a reconcile): its tasks are in job_tasks. */
export const jobExecutions = sqliteTable(
  'job_executions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** What runs it: 'replication', 'reconcile', later 'gc' and 'retention'. */
    kind: text('kind').notNull(),
    /** The row it runs for (a policy's id), if any; the name is kept for after that row is gone. */
    subjectId: integer('subject_id'),
    subject: text('subject'),
    trigger: text('trigger', { enum: ['manual', 'event', 'cron', 'creation', 'schedule'] }).notNull(),
    dryRun: integer('dry_run', { mode: 'boolean' }).notNull().default(false),
    status: text('status', { enum: ['pending', 'running', 'succeeded', 'failed', 'stopped'] }).notNull().default('pending'),
    /** Why the execution as a whole failed before or instead of its tasks (planning failed). */
    error: text('error'),
    /** Most tasks of this execution that may run at once. */
    concurrency: integer('concurrency').notNull().default(4),
    stopRequested: integer('stop_requested', { mode: 'boolean' }).notNull().default(false),
    createdBy: text('created_by'),
    createdAt: text('created_at').notNull().default(now),
    startedAt: text('started_at'),
    finishedAt: text('finished_at'),
    /** What the run found or did, as JSON, for kinds that report more than task counts (GC, retention). */
    result: text('result'),
  },
  (t) => [index('job_executions_kind').on(t.kind, t.subjectId, t.id), index('job_executions_status').on(t.status)],
);

/**
 * One unit of a job's work. Workers claim a task through a lease (owner, lockedUntil): a crashed
 * worker's task is claimed again once its lease has passed.
 */
export const jobTasks = sqliteTable(
  'job_tasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    executionId: integer('execution_id')
      .notNull()
      .references(() => jobExecutions.id, { onDelete: 'cascade' }),
    /** What the handler needs, as JSON (for replication: operation, repository, tag, digest, destination). */
    payload: text('payload').notNull(),
    status: text('status', { enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'stopped'] })
      .notNull()
      .default('pending'),
    reason: text('reason'),
    attempts: integer('attempts').notNull().default(0),
    bytes: integer('bytes').notNull().default(0),
    error: text('error'),
    /** JSON the handler saves while it works, so that a resumed task continues where it was. */
    checkpoint: text('checkpoint'),
    leaseOwner: text('lease_owner'),
    /** Epoch ms. */
    lockedUntil: integer('locked_until'),
    /** Epoch ms: a retry waits until then. */
    notBefore: integer('not_before'),
    startedAt: text('started_at'),
    finishedAt: text('finished_at'),
  },
  (t) => [index('job_tasks_execution').on(t.executionId, t.status), index('job_tasks_claim').on(t.status, t.notBefore)],
);

/** A robot of the whole system (not of one project): replication targets, CI across projects. */
export const systemRobots = sqliteTable(
  'system_robots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull().unique(),
    secretHash: text('secret_hash').notNull(),
    /** Comma-separated subset of pull, push, delete. */
    permissions: text('permissions').notNull(),
    /** '*' for every project, else a JSON array of project names. */
    projects: text('projects').notNull(),
    createProjects: integer('create_projects', { mode: 'boolean' }).notNull().default(false),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    expiresAt: text('expires_at'),
    createdBy: text('created_by'),
    createdAt: text('created_at').notNull().default(now),
    lastUsedAt: text('last_used_at'),
  },
  (t) => [uniqueIndex('system_robots_secret').on(t.secretHash)],
);

/**
 * Every blob a manifest makes the registry keep: the manifest itself, its config and layers, and
 * for an index its children with theirs. Quotas count each blob digest once per project; retention
 * counts what only deleted manifests hold.
 */
export const manifestBlobs = sqliteTable(
  'manifest_blobs',
  {
    repositoryId: integer('repository_id')
      .notNull()
      .references(() => repositories.id, { onDelete: 'cascade' }),
    manifestDigest: text('manifest_digest').notNull(),
    blobDigest: text('blob_digest').notNull(),
    size: integer('size').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repositoryId, t.manifestDigest, t.blobDigest] }), index('manifest_blobs_blob').on(t.blobDigest)],
);

/** One row (id 1): the read-only window and what garbage collection needs to know across instances. */
export const storageState = sqliteTable('storage_state', {
  id: integer('id').primaryKey().default(1),
  /** Set by an admin (API, UI): on until an admin turns it off. */
  readOnly: integer('read_only', { mode: 'boolean' }).notNull().default(false),
  readOnlySince: text('read_only_since'),
  readOnlyReason: text('read_only_reason'),
  readOnlyBy: text('read_only_by'),
  /** The GC execution that holds the window (the window is on while this is set), and since when. */
  gcExecutionId: integer('gc_execution_id'),
  gcSince: text('gc_since'),
  /** Epoch ms: when the last push or delete token issued by any instance expires. */
  pushTokensUntilMs: integer('push_tokens_until_ms').notNull().default(0),
  /** The GC schedule (a cron expression), and whether scheduled runs delete untagged images first. */
  gcCron: text('gc_cron'),
  gcDeleteUntagged: integer('gc_delete_untagged', { mode: 'boolean' }).notNull().default(false),
});

/** A project's storage rules (retention, immutability) and quota, one row per project that has any. */
export const projectStorage = sqliteTable(
  'project_storage',
  {
  projectId: integer('project_id')
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  /** JSON [{repositories, tags, keep, n?}], null when the project has no retention policy. */
  retentionRules: text('retention_rules'),
  retentionUntagged: text('retention_untagged', { enum: ['keep', 'delete'] }).notNull().default('keep'),
  retentionCron: text('retention_cron'),
  /** JSON [{repositories, tags}]. */
  immutabilityRules: text('immutability_rules').notNull().default('[]'),
  quotaLimitBytes: integer('quota_limit_bytes'),
  /** Set when usage reached the limit (the quota.exceeded event and audit row), cleared once it is under again. */
  quotaExceededAt: text('quota_exceeded_at'),
  /** Each blob once (manifest_blobs), recomputed after pushes and deletes. */
  usedBytes: integer('used_bytes').notNull().default(0),
  usageAt: text('usage_at'),
  updatedAt: text('updated_at').notNull().default(now),
  updatedBy: text('updated_by'),
  },
  (t) => [primaryKey({ columns: [t.projectId] })],
);

/** Pushes and pulls per project and UTC day (YYYY-MM-DD), for the project page's chart. */
export const projectActivity = sqliteTable(
  'project_activity',
  {
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    pushes: integer('pushes').notNull().default(0),
    pulls: integer('pulls').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.day] })],
);

/**
 * A project's webhook: events sent to an HTTP endpoint. The signing secret is sealed
 * (src/replication/sealed.ts) because every delivery needs it in clear for its HMAC.
 */
export const webhooks = sqliteTable(
  'webhooks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    projectId: integer('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    url: text('url').notNull(),
    /** JSON array of push, pull, delete, replication, retention, quota. */
    events: text('events').notNull(),
    format: text('format', { enum: ['cloudevents', 'default'] }).notNull().default('cloudevents'),
    secretSealed: text('secret_sealed'),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    /** Tries of one delivery and the wait for one answer; null: webhooks.maxAttempts and webhooks.timeoutMs. */
    maxAttempts: integer('max_attempts'),
    timeoutMs: integer('timeout_ms'),
    description: text('description'),
    createdBy: text('created_by'),
    createdAt: text('created_at').notNull().default(now),
    updatedAt: text('updated_at').notNull().default(now),
  },
  (t) => [uniqueIndex('webhooks_project_name').on(t.projectId, t.name)],
);

/**
 * One event for one webhook: the body is fixed when the delivery is made, so its event id and
 * signature input are the same on every attempt and on a redelivery. Sent by the jobs module.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    webhookId: integer('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    /** The CloudEvent's id (a UUID), the same on every attempt. */
    eventId: text('event_id').notNull(),
    /** org.wharf.artifact.pushed, … */
    eventType: text('event_type').notNull(),
    body: text('body').notNull(),
    status: text('status', { enum: ['pending', 'succeeded', 'failed'] }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    responseStatus: integer('response_status'),
    error: text('error'),
    createdAt: text('created_at').notNull().default(now),
    lastAttemptAt: text('last_attempt_at'),
    deliveredAt: text('delivered_at'),
  },
  (t) => [index('webhook_deliveries_webhook').on(t.webhookId, t.id), index('webhook_deliveries_created').on(t.createdAt)],
);

/**
 * How far a reader of the audit log (the webhook dispatcher, the syslog forwarder) has got, shared
 * by instances: the last audit id handled (src/audit/feed.ts), or for time windows (pull
 * aggregation) the end of the last window handled, in epoch ms.
 */
export const auditCursors = sqliteTable('audit_cursors', {
  name: text('name').primaryKey(),
  position: integer('position').notNull(),
  updatedAt: text('updated_at').notNull().default(now),
});
