import type { Ctx } from '../context';
import { isoTime } from '../clock';
import { transaction } from '../db/transaction';
import { badRequest } from '../errors';
import { recordAudit } from '../audit/record';
import { assertSystemAdmin } from '../identity/principal';
import { readOnlyState, setManualReadOnly, type ReadOnlyState } from './state';
import { storageRulesChanged } from './gates';
import { releaseStaleGcWindow } from './gc';

export const READ_ONLY_REASON_MAX = 200;

export interface ReadOnlyView {
  readOnly: boolean;
  since: string | null;
  reason: string | null;
  by: string | null;
  /** The garbage collection run holding the window, if one does. */
  gc: { executionId: number; since: string | null } | null;
}

export const readOnlyView = (s: ReadOnlyState): ReadOnlyView => ({
  readOnly: s.readOnly,
  since: s.since,
  reason: s.reason,
  by: s.by,
  gc: s.gcExecutionId === null ? null : { executionId: s.gcExecutionId, since: s.gcSince },
});

/** Printable: no control characters (a reason is shown in clients' error lines and on every page). */
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u;

/** The reason as stored: trimmed, empty means none; 400 readOnly.badReason past 200 printable characters. */
export function checkedReason(reason: string | null | undefined): string | null {
  if (reason === undefined || reason === null) return null;
  const trimmed = reason.trim();
  if ([...trimmed].length > READ_ONLY_REASON_MAX || !PRINTABLE.test(trimmed)) throw badRequest('readOnly.badReason', { max: READ_ONLY_REASON_MAX });
  return trimmed === '' ? null : trimmed;
}

export async function getReadOnly(ctx: Pick<Ctx, 'db'>): Promise<ReadOnlyView> {
  return readOnlyView(await readOnlyState(ctx.db));
}

/**
 * The admin's switch of the read-only window (system admins). Turning it off clears the admin's
 * switch and the hold of a garbage collection run nobody runs any more (over, gone, or not on a
 * live lease: its process was killed); a running GC keeps its hold until it ends.
 */
export async function setReadOnly(ctx: Ctx, input: { readOnly: boolean; reason?: string | null }): Promise<ReadOnlyView> {
  assertSystemAdmin(ctx.principal);
  const reason = input.readOnly ? checkedReason(input.reason) : null;
  const { actor } = ctx;
  const committed = await transaction(ctx.db, async (tx) => {
    const before = await readOnlyState(tx);
    await setManualReadOnly(tx, input.readOnly, { at: isoTime(ctx.clock.now()), by: actor.username, reason });
    const staleGcReleased = !input.readOnly && (await releaseStaleGcWindow({ db: tx, clock: ctx.clock, log: ctx.deps.log }));
    const after = await readOnlyState(tx);
    await recordAudit(tx, {
      username: actor.username,
      action: 'read_only_set',
      resourceType: 'system',
      resource: 'read-only',
      sourceIp: actor.ip,
      userAgent: actor.userAgent ?? null,
      detail: JSON.stringify({ readOnly: input.readOnly, reason, before: before.manual, gcHolds: after.gcExecutionId !== null, ...(staleGcReleased ? { staleGcReleased: before.gcExecutionId } : {}) }),
    });
    return readOnlyView(after);
  });
  // After the commit too: a token request between the change and its commit cached the old rules.
  storageRulesChanged();
  return committed;
}
