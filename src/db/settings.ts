import { eq } from 'drizzle-orm';
import type { Tx } from './open';
import { settings } from './schema';

/** A value every instance on the database shares (the last purge claim, the last reconcile report). */
export const readSetting = async (db: Tx, key: string): Promise<string | null> =>
  (await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get())?.value ?? null;

export const writeSetting = async (db: Tx, key: string, value: string): Promise<void> => {
  await db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } }).run();
};
