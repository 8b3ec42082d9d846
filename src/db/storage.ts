import type { Clock } from '../clock';
import { fail } from '../errors';
import type { Log } from '../log';

/** PostgreSQL's disk_full and io_error. */
const PG_STORAGE_CODES = new Set(['53100', '58030']);

/** Codes with which SQLite, PostgreSQL and the file system say the disk is full or failing. */
export function isStorageFailure(err: unknown): boolean {
  // Query errors may arrive wrapped, with the driver's error as their cause.
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT' || PG_STORAGE_CODES.has(code))) return true;
  }
  return false;
}

/** The driver's code of a storage failure, for the log line. */
export function storageCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export const storageFull = () => fail(503, 'storage_full', 'storage.full', {}, { 'Retry-After': '60' });

/**
 * Logs a full or failing disk at most once per interval, however many requests hit it. It lives
 * in process memory on purpose: it throttles this instance's own log output, and the database it
 * would otherwise use is the thing that cannot be written.
 */
export class StorageAlarm {
  private lastLoggedMs = Number.NEGATIVE_INFINITY;
  private refusedSinceLog = 0;

  constructor(
    private readonly clock: Clock,
    private readonly log: Log,
    private readonly everyMs = 60_000,
  ) {}

  report(err: unknown, path: string): void {
    this.refusedSinceLog++;
    const now = this.clock.now();
    if (now - this.lastLoggedMs < this.everyMs) return;
    this.log.error(
      { code: storageCode(err), path, refused: this.refusedSinceLog },
      'storage full or failing: requests that write are refused with 503 until space is freed',
    );
    this.lastLoggedMs = now;
    this.refusedSinceLog = 0;
  }
}

/**
 * A bookkeeping write whose loss must not refuse the request it belongs to (last login, the
 * address of a token grant): on a full disk it is reported and skipped, anything else is thrown.
 */
export async function bestEffortWrite(alarm: Pick<StorageAlarm, 'report'> | undefined, where: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (!isStorageFailure(err)) throw err;
    alarm?.report(err, where);
  }
}
