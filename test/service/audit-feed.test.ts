import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cursorPosition, lastAuditId, readAuditAfter, saveCursor, startCursor } from '../../src/audit/feed';
import { recordAudit } from '../../src/audit/record';
import { tablesOf } from '../../src/db/engine';
import type { OpenDb } from '../../src/db/open';
import { transaction } from '../../src/db/transaction';
import { onPostgres, openTestDatabase } from '../support/test-database';

/** The audit log read as a feed from a saved cursor, on the run's engine. */

let open: OpenDb;
const db = () => open.db;
const write = (resource: string) => transaction(db(), (tx) => recordAudit(tx, { username: 'admin', action: 'project_create', resource }));
const allIds = async () => (await db().select({ id: tablesOf(db()).audit.id }).from(tablesOf(db()).audit)).map((r) => r.id).sort((a, b) => a - b);

beforeEach(async () => {
  open = await openTestDatabase();
});
afterEach(async () => {
  await open.close();
});

describe('the audit feed', () => {
  it('returns the rows after a position in id order, a page at a time', async () => {
    for (let i = 0; i < 7; i++) await write(`p${i}`);
    const ids = await allIds();
    const first = await readAuditAfter(db(), 0, 3);
    expect(first.map((r) => r.id)).toEqual(ids.slice(0, 3));
    const next = await readAuditAfter(db(), first[2]!.id, 100);
    expect(next.map((r) => r.id)).toEqual(ids.slice(3));
    expect(next.map((r) => r.resource)).toEqual(['p3', 'p4', 'p5', 'p6']);
    expect(await readAuditAfter(db(), ids[ids.length - 1]!, 10)).toEqual([]);
  });

  it('starts a new cursor at the newest row and saves it; a saved cursor is kept', async () => {
    await write('old-1');
    await write('old-2');
    const newest = await lastAuditId(db());
    expect(await cursorPosition(db(), 'reader')).toBeNull();
    expect(await startCursor(db(), 'reader', Date.now())).toBe(newest);
    expect(await cursorPosition(db(), 'reader')).toBe(newest);
    expect(await readAuditAfter(db(), newest, 10)).toEqual([]);
    await write('new');
    // A second start goes on from the saved position, not the (new) newest row.
    expect(await startCursor(db(), 'reader', Date.now())).toBe(newest);
    expect((await readAuditAfter(db(), newest, 10)).map((r) => r.resource)).toEqual(['new']);
  });

  it('round-trips saveCursor and cursorPosition, one position per name', async () => {
    await transaction(db(), (tx) => saveCursor(tx, 'a', 5, Date.now()));
    await transaction(db(), (tx) => saveCursor(tx, 'b', 9, Date.now()));
    await transaction(db(), (tx) => saveCursor(tx, 'a', 12, Date.now()));
    expect(await cursorPosition(db(), 'a')).toBe(12);
    expect(await cursorPosition(db(), 'b')).toBe(9);
    // Saved in a transaction that rolls back: not saved.
    await expect(
      transaction(db(), async (tx) => {
        await saveCursor(tx, 'a', 99, Date.now());
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await cursorPosition(db(), 'a')).toBe(12);
  });

  it.skipIf(!onPostgres)('on PostgreSQL, a reader following the feed under parallel writers sees every committed row once and no rolled back one', async () => {
    const WRITERS = 8;
    const PER_WRITER = 40;
    let writing = true;
    const seen: number[] = [];
    const seenResources: string[] = [];
    const start = await startCursor(db(), 'follow', Date.now());
    const reader = (async () => {
      let position = start;
      for (;;) {
        const done = !writing;
        const rows = await readAuditAfter(db(), position, 7);
        for (const r of rows) {
          seen.push(r.id);
          seenResources.push(r.resource ?? '');
        }
        if (rows.length > 0) {
          position = rows[rows.length - 1]!.id;
          await transaction(db(), (tx) => saveCursor(tx, 'follow', position, Date.now()));
        } else if (done) return;
        else await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let rolledBack = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) {
          const undo = (w + i) % 5 === 0;
          const written = transaction(db(), async (tx) => {
            await recordAudit(tx, { username: 'admin', action: 'project_create', resource: `${undo ? 'undone' : 'kept'}-${w}-${i}` });
            if (i % 3 === 0) await recordAudit(tx, { username: 'admin', action: 'member_set', resource: `${undo ? 'undone' : 'kept'}-${w}-${i}-b` });
            if (undo) throw new Error('rolled back');
          });
          if (undo) {
            await expect(written).rejects.toThrow('rolled back');
            rolledBack++;
          } else await written;
        }
      }),
    );
    writing = false;
    await reader;
    const committed = (await allIds()).filter((id) => id > start);
    expect(rolledBack).toBeGreaterThan(0);
    expect(seen).toEqual(committed); // every committed row, once, in id order
    expect(seenResources.filter((r) => r.startsWith('undone'))).toEqual([]);
    expect(await cursorPosition(db(), 'follow')).toBe(committed[committed.length - 1]);
  });
});
