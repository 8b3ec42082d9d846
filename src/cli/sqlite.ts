import type Database from 'better-sqlite3';

/**
 * Makes every transaction on this connection BEGIN IMMEDIATE.
 *
 * The CLI is a second process writing into a database the running server writes too. A deferred
 * transaction (drizzle's default) that reads and then writes fails at once with "database is
 * locked" (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry) when the other process
 * committed in between; taking the write lock at BEGIN makes it wait its turn (busy_timeout)
 * and then read fresh data. drizzle runs `client.transaction(fn)[behavior]()`, so the wrapper
 * answers every behavior with the immediate variant.
 */
export function preferImmediateTransactions(sqlite: Database.Database): void {
  const original = sqlite.transaction.bind(sqlite);
  sqlite.transaction = ((fn: (...args: unknown[]) => unknown) => {
    const tx = original(fn);
    const immediate = tx.immediate;
    return Object.assign((...args: unknown[]) => immediate(...args), {
      default: immediate,
      deferred: immediate,
      immediate,
      exclusive: tx.exclusive,
      database: sqlite,
    });
  }) as typeof sqlite.transaction;
}
