import { and, asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { audit } from './tables';
import type { ApiClient } from './api-client';

export function auditRows(api: ApiClient, action: string, resource?: string) {
  const where = resource === undefined ? eq(audit.action, action) : and(eq(audit.action, action), eq(audit.resource, resource));
  return api.deps.db.select().from(audit).where(where).orderBy(asc(audit.id));
}

/** The latest successful `action` row on `resource` by `username` (in `project`, if given), with a source address. */
export async function expectAudit(api: ApiClient, action: string, resource: string, username: string, project?: string) {
  const rows = (await auditRows(api, action, resource)).filter((r) => r.username === username && (project === undefined || r.project === project));
  expect(rows.length, `no ${action} audit row for ${resource} by ${username}${project ? ` in ${project}` : ''}`).toBeGreaterThan(0);
  const last = rows[rows.length - 1]!;
  expect(last.outcome).toBe('success');
  expect(last.sourceIp).toBeTruthy();
  return last;
}
