import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { listAudit } from '../audit/list';
import { exportAudit } from '../audit/export';
import { EXPORT_FORMATS } from '../audit/export-format';
import { auditScope } from '../access/audit-scope';
import { ctxOf, type AppEnv } from '../http/env';
import { authRequired, json, listOf, PageQuery, pick, requireUser } from './route-kit';

const AuditSchema = z
  .object({
    id: z.number().int(),
    time: z.string(),
    username: z.string(),
    action: z.string(),
    resourceType: z.string().nullable(),
    resource: z.string().nullable(),
    project: z.string().nullable(),
    repository: z.string().nullable(),
    tag: z.string().nullable(),
    digest: z.string().nullable(),
    mediaType: z.string().nullable(),
    sourceIp: z.string().nullable().openapi({ description: 'Verified client address; for registry events, that of the token request that authorized them' }),
    claimedAddr: z.string().nullable().openapi({ description: 'Address the registry reported for the request (client-supplied X-Forwarded-For), unverified' }),
    userAgent: z.string().nullable(),
    outcome: z.string(),
    count: z.number().int().openapi({ description: 'Repeated pulls folded into this row' }),
  })
  .openapi('AuditEntry');

/** RFC 3339 (a date alone is midnight UTC); only years the stored time strings can hold compare correctly. */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?$/;
const isoTime = z
  .string()
  .max(64)
  .refine((v) => {
    if (!RFC3339_RE.test(v)) return false;
    const t = Date.parse(v);
    return Number.isFinite(t) && /^\d{4}-/.test(new Date(t).toISOString());
  }, 'expected an RFC 3339 time between years 0000 and 9999');

/** The filters of the audit log, shared by its listing and its export. */
const AuditFilterQuery = z.object({
  project: z.string().max(300).optional(),
  repository: z.string().max(300).optional(),
  username: z.string().max(256).optional(),
  action: z.string().max(64).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
});

const file = (description: string) => ({ description, content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } } });

export function auditRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      tags: ['audit'],
      summary: 'The audit log: all of it for system admins, their projects’ and their own rows for others',
      security: authRequired,
      request: {
        query: PageQuery.extend(AuditFilterQuery.shape),
      },
      responses: { 200: json(listOf(AuditSchema, 'AuditList')), ...pick(400, 401) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await listAudit(c.var.deps.db, await auditScope(ctxOf(c)), c.req.valid('query')), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit/export',
      tags: ['audit'],
      summary: 'The audit rows the caller may list, filtered as the list is, streamed newest first as JSON lines or CSV',
      security: authRequired,
      request: {
        query: AuditFilterQuery.extend({
          format: z.enum(EXPORT_FORMATS).openapi({ description: 'jsonl: one JSON object per line; csv: RFC 4180 with a header row, formula-like cells escaped' }),
        }),
      },
      responses: { 200: file('The rows, as an attachment'), ...pick(400, 401, 403) },
    }),
    async (c) => {
      requireUser(c);
      const ctx = ctxOf(c);
      const { format, ...filters } = c.req.valid('query');
      const out = await exportAudit(ctx, await auditScope(ctx), format, filters);
      return c.body(out.body, 200, {
        'Content-Type': out.contentType,
        'Content-Disposition': `attachment; filename="${out.fileName}"`,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
    },
  );
  return app;
}
