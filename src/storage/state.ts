import { and, eq, isNull, lt } from 'drizzle-orm';
import { fail } from '../errors';
import { storageRulesChanged } from './gates';
import { firstRow, rowsChanged, tablesOf } from '../db/engine';
import type { Tx } from '../db/open';

/**
 * The read-only window, shared by every instance through the database (storage_state, one row made
 * by the migration). While it is on no token carries push or delete, the API refuses image writes
 * with 503 read_only, and Wharf's own writers (replication into this registry, retention,
 * immutability restores, the single-tag delete's placeholder pushes) wait.
 */
export interface ReadOnlyState {
  /** On for either reason below. */
  readOnly: boolean;
  /** An admin turned it on (API, UI); stays on until an admin turns it off. */
  manual: boolean;
  since: string | null;
  reason: string | null;
  by: string | null;
  /** The garbage collection run that holds the window, if one does. */
  gcExecutionId: number | null;
  gcSince: string | null;
}

const ROW = 1;

export async function readOnlyState(db: Tx): Promise<ReadOnlyState> {
  const { storageState: s } = tablesOf(db);
  const row = await firstRow(db.select().from(s).where(eq(s.id, ROW)));
  const manual = row?.readOnly ?? false;
  const gcExecutionId = row?.gcExecutionId ?? null;
  return {
    readOnly: manual || gcExecutionId !== null,
    manual,
    since: manual ? (row?.readOnlySince ?? null) : (row?.gcSince ?? null),
    reason: manual ? (row?.readOnlyReason ?? null) : gcExecutionId !== null ? 'garbage collection' : null,
    by: manual ? (row?.readOnlyBy ?? null) : null,
    gcExecutionId,
    gcSince: row?.gcSince ?? null,
  };
}

/** The admin's switch (the service around it audits). Turning it off leaves a GC's hold alone. */
export async function setManualReadOnly(db: Tx, on: boolean, opts: { at: string; by: string | null; reason: string | null }): Promise<void> {
  const { storageState: s } = tablesOf(db);
  await db
    .update(s)
    .set(on ? { readOnly: true, readOnlySince: opts.at, readOnlyBy: opts.by, readOnlyReason: opts.reason } : { readOnly: false, readOnlySince: null, readOnlyBy: null, readOnlyReason: null })
    .where(eq(s.id, ROW));
  storageRulesChanged();
}

/** A GC run takes the window; false when another run holds it. Taking it again is a no-op that answers true. */
export async function holdWindowForGc(db: Tx, executionId: number, at: string): Promise<boolean> {
  const { storageState: s } = tablesOf(db);
  const changed = rowsChanged(
    await db
      .update(s)
      .set({ gcExecutionId: executionId, gcSince: at })
      .where(and(eq(s.id, ROW), isNull(s.gcExecutionId))),
  );
  storageRulesChanged();
  if (changed > 0) return true;
  return (await readOnlyState(db)).gcExecutionId === executionId;
}

/** The run gives the window back (only its own hold: a stale run cannot end a newer one's). */
export async function releaseWindowForGc(db: Tx, executionId: number): Promise<void> {
  const { storageState: s } = tablesOf(db);
  await db
    .update(s)
    .set({ gcExecutionId: null, gcSince: null })
    .where(and(eq(s.id, ROW), eq(s.gcExecutionId, executionId)));
  storageRulesChanged();
}

/** Every instance that signs a token carrying push or delete says until when it is valid. */
export async function notePushTokens(db: Tx, untilMs: number): Promise<void> {
  const { storageState: s } = tablesOf(db);
  await db
    .update(s)
    .set({ pushTokensUntilMs: untilMs })
    .where(and(eq(s.id, ROW), lt(s.pushTokensUntilMs, untilMs)));
}

/** Epoch ms when the last push or delete token issued so far expires (0: none yet). */
export async function pushTokensUntil(db: Tx): Promise<number> {
  const { storageState: s } = tablesOf(db);
  return (await firstRow(db.select({ until: s.pushTokensUntilMs }).from(s).where(eq(s.id, ROW))))?.until ?? 0;
}

/**
 * When garbage collection may start in a window opened at `sinceMs`: after the last push token
 * issued before it has expired, plus the registry's leeway. A token decided just before the window
 * opened may have been written after the database was read, so a whole token lifetime from the
 * window's start (and a margin) bounds it too.
 */
export function gcMayStartAt(opts: { sinceMs: number; pushTokensUntilMs: number; pushTokenSeconds: number; leewaySeconds: number }): number {
  const margin = 5_000;
  return Math.max(opts.pushTokensUntilMs, opts.sinceMs + opts.pushTokenSeconds * 1000 + margin) + opts.leewaySeconds * 1000;
}

/** 503 read_only when the window is on: the API's and the UI's writes to images call this first. */
export async function assertWritable(db: Tx): Promise<void> {
  const state = await readOnlyState(db);
  if (state.readOnly) throw readOnlyError(state);
}

export const readOnlyError = (state: ReadOnlyState) =>
  state.reason ? fail(503, 'read_only', 'storage.readOnlyBecause', { reason: state.reason }) : fail(503, 'read_only', 'storage.readOnly');
