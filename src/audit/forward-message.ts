import type { AuditRow } from './feed';

/** RFC 5424 severities Wharf uses. */
export const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

/** Facility names of audit.forward.facility and their RFC 5424 numbers. */
export const FACILITY = {
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/** What a collector is sure to take: rsyslog's default maxMessageSize, header and newline included. */
export const MAX_MESSAGE_BYTES = 8192;

/** Refusals and violations: someone was stopped, or tried. */
const FAILURE_ACTIONS = new Set(['login_failed', 'token_denied', 'immutable_violation']);
/** The registry's own traffic and sign-ins: routine. */
const ROUTINE_ACTIONS = new Set(['push', 'pull', 'delete', 'blob_delete', 'login', 'logout']);

/** warning for failures, info for the registry's traffic and sign-ins, notice for every change an admin or a job made. */
export function severityOf(row: Pick<AuditRow, 'action' | 'outcome'>): number {
  if (row.outcome !== 'success' || FAILURE_ACTIONS.has(row.action)) return SEVERITY.warning;
  return ROUTINE_ACTIONS.has(row.action) ? SEVERITY.info : SEVERITY.notice;
}

/** RFC 5424 header fields are printable ASCII without spaces, bounded; '-' is "none". */
export function headerField(value: string, maxLength: number): string {
  const clean = value.replace(/[^!-~]/g, '').slice(0, maxLength);
  return clean === '' ? '-' : clean;
}

/** The row as one line of JSON, without the fields that are empty; detail parsed when it is JSON. */
function fieldsOf(row: AuditRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (value !== null && value !== undefined) out[key] = value;
  };
  put('id', row.id);
  put('time', row.time);
  put('username', row.username);
  put('action', row.action);
  put('outcome', row.outcome);
  put('resourceType', row.resourceType);
  put('resource', row.resource);
  put('project', row.project);
  put('repository', row.repository);
  put('tag', row.tag);
  put('digest', row.digest);
  put('mediaType', row.mediaType);
  put('sourceIp', row.sourceIp);
  put('userAgent', row.userAgent);
  put('count', row.count);
  if (row.detail !== null) put('detail', parsedOrText(row.detail));
  return out;
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The longest prefix of `text` whose JSON string takes at most `bytes` bytes. */
function cutToJsonBytes(text: string, bytes: number): string {
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(JSON.stringify(text.slice(0, mid))) <= bytes) lo = mid;
    else hi = mid - 1;
  }
  // Never end on half of a surrogate pair.
  const code = text.charCodeAt(lo - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, lo - 1) : text.slice(0, lo);
}

/**
 * The MSG part for one audit row: its JSON on one line (JSON escapes every newline), at most
 * `budget` bytes. A row too long keeps every field but has its longest texts cut, detail first
 * (made a string), and says so with `truncated: true`: never dropped.
 */
export function messageOf(row: AuditRow, budget: number): string {
  const fields = fieldsOf(row);
  const whole = JSON.stringify(fields);
  if (Buffer.byteLength(whole) <= budget) return whole;
  fields.truncated = true;
  if (fields.detail !== undefined && typeof fields.detail !== 'string') fields.detail = JSON.stringify(fields.detail);
  const cuttable = ['detail', 'userAgent', 'resource', 'repository', 'tag', 'project', 'username', 'mediaType', 'digest', 'resourceType', 'sourceIp'];
  for (;;) {
    const text = JSON.stringify(fields);
    const over = Buffer.byteLength(text) - budget;
    if (over <= 0) return text;
    const longest = cuttable.filter((k) => typeof fields[k] === 'string' && (fields[k] as string).length > 0).sort((a, b) => (fields[b] as string).length - (fields[a] as string).length)[0];
    if (longest === undefined) return text;
    const value = fields[longest] as string;
    const keep = Math.max(0, Buffer.byteLength(JSON.stringify(value)) - over - 2);
    fields[longest] = cutToJsonBytes(value, keep);
  }
}

/** The header before MSG, as syslog-client-tls writes it (for the size budget). */
export function headerBytes(o: { facility: number; severity: number; timestamp: string; hostname: string; appName: string; msgid: string }): number {
  return Buffer.byteLength(`<${o.facility * 8 + o.severity}>1 ${o.timestamp} ${o.hostname} ${o.appName} ${process.pid} ${o.msgid} - `);
}
