import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One metrics registry per app instance, so several apps in one test process never collide. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wharf_' });
  return {
    registry,
    tokenRequests: new Counter({
      name: 'wharf_token_requests_total',
      help: 'Token requests by outcome (issued, unauthorized, throttled, bad_request, error)',
      labelNames: ['outcome', 'method'] as const,
      registers: [registry],
    }),
    tokenLatency: new Histogram({
      name: 'wharf_token_request_duration_seconds',
      help: 'Time to answer a token request',
      labelNames: ['method'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    eventsReceived: new Counter({
      name: 'wharf_registry_events_total',
      help: 'Registry notification events by action and outcome (applied, duplicate, ignored, rejected, failed)',
      labelNames: ['action', 'outcome'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'wharf_reconcile_duration_seconds',
      help: 'Time a reconcile of the tag state against the registry took',
      buckets: [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    replicationBytes: new Counter({
      name: 'wharf_replication_bytes_total',
      help: 'Bytes replication copied, by direction (push, pull)',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    reconcileDrift: new Counter({
      name: 'wharf_reconcile_drift_total',
      help: 'Differences reconcile found and repaired, by kind (added, removed, repaired)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    registryRestarts: new Counter({
      name: 'wharf_registry_restarts_total',
      help: 'Times the supervised registry process was restarted',
      registers: [registry],
    }),
    jobTasks: new Counter({
      name: 'wharf_job_tasks_total',
      help: 'Job tasks this instance ended, by job kind and outcome (succeeded, skipped, failed, retried, stopped)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    jobExecutionDuration: new Histogram({
      name: 'wharf_job_execution_seconds',
      help: 'Time from the start of a job execution to its end, by kind and final status',
      labelNames: ['kind', 'status'] as const,
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400],
      registers: [registry],
    }),
    schedulerLeader: new Gauge({
      name: 'wharf_scheduler_leader',
      help: '1 while this instance is the elected one that runs the schedulers (reconcile, prunes, audit retention), else 0',
      registers: [registry],
    }),
    projectStorageUsed: new Gauge({
      name: 'wharf_project_storage_used_bytes',
      help: 'Bytes a project keeps in the registry (each blob once), as last recomputed',
      labelNames: ['project'] as const,
      registers: [registry],
    }),
    projectQuota: new Gauge({
      name: 'wharf_project_quota_bytes',
      help: 'The storage quota of a project, for projects that have one',
      labelNames: ['project'] as const,
      registers: [registry],
    }),
    auditForwardLagRows: new Gauge({
      name: 'wharf_audit_forward_lag_rows',
      help: 'Audit rows after the syslog cursor, not yet forwarded (set by the instance that forwards)',
      registers: [registry],
    }),
    auditForwardLagSeconds: new Gauge({
      name: 'wharf_audit_forward_lag_seconds',
      help: 'Age of the oldest audit row not yet forwarded to syslog, 0 when none (set by the instance that forwards)',
      registers: [registry],
    }),
    auditForwardSent: new Counter({
      name: 'wharf_audit_forward_sent_total',
      help: 'Audit rows written to the syslog collector (a row sent again after a failure counts again)',
      registers: [registry],
    }),
    auditForwardErrors: new Counter({
      name: 'wharf_audit_forward_errors_total',
      help: 'Failed audit forwarding attempts, by kind (collector, database); each is retried with backoff',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
