import type { AuditView } from './list';

/** The formats the audit export writes. */
export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/** The columns of the CSV file: the fields of the audit listing's rows, in its order. */
export const CSV_COLUMNS = [
  'id',
  'time',
  'username',
  'action',
  'resourceType',
  'resource',
  'project',
  'repository',
  'tag',
  'digest',
  'mediaType',
  'sourceIp',
  'claimedAddr',
  'userAgent',
  'outcome',
  'count',
] as const satisfies readonly (keyof AuditView)[];

/**
 * One CSV cell (RFC 4180). Text that a spreadsheet would read as a formula (a first character of
 * =, +, -, @, tab or CR) gets a leading single quote: user names, repositories and user agents
 * come from clients.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

/** Rows of one format, each ended by its line break, the first line (CSV's header) apart. */
export function encodeRows(format: ExportFormat, rows: AuditView[]): string {
  if (format === 'jsonl') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return rows.map((r) => `${CSV_COLUMNS.map((c) => csvCell(r[c])).join(',')}\r\n`).join('');
}

/** The name of an export's file: wharf-audit-<UTC time, basic format>.<format>. */
export const exportFileName = (format: ExportFormat, nowMs: number): string =>
  `wharf-audit-${new Date(nowMs).toISOString().replace(/\.\d+/, '').replaceAll(/[-:]/g, '')}.${format}`;

/**
 * A byte stream of `first`, then each text `next` gives until it gives null. It reads on demand
 * (pull): the next batch is read only once the consumer has taken the previous one, so a slow
 * client holds at most one batch in memory, and a cancelled stream (the client went away) reads
 * no further.
 */
export function textStream(first: string, next: () => Promise<string | null>, onError: (err: unknown) => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (first) controller.enqueue(encoder.encode(first));
      },
      async pull(controller) {
        if (finished) return;
        try {
          const text = await next();
          if (finished) return;
          if (text === null) {
            finished = true;
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(text));
        } catch (err) {
          finished = true;
          onError(err);
          controller.error(err);
        }
      },
      cancel() {
        finished = true;
      },
    },
    { highWaterMark: 1 },
  );
}
