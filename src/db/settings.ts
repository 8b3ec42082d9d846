import { eq } from 'drizzle-orm';
import { firstRow, tablesOf } from './engine';
import type { Tx } from './open';

/** A value every instance on the database shares (the last purge claim, the last reconcile report). */
export async function readSetting(db: Tx, key: string): Promise<string | null> {
  const { settings } = tablesOf(db);
  return (await firstRow(db.select({ value: settings.value }).from(settings).where(eq(settings.key, key))))?.value ?? null;
}

export async function writeSetting(db: Tx, key: string, value: string): Promise<void> {
  const { settings } = tablesOf(db);
  await db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } });
}
