import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { firstRow, tablesOf } from '../db/engine';

/** The SQL of immutable tags' restores. */

/** The payload of the newest unfinished execution of `kind` for `subject`, if any (JSON text). */
export async function unfinishedPayloadOf(db: Tx, kind: string, subject: string): Promise<string | undefined> {
  const { jobExecutions, jobTasks } = tablesOf(db);
  const row = await firstRow(
    db
      .select({ payload: jobTasks.payload })
      .from(jobExecutions)
      .innerJoin(jobTasks, eq(jobTasks.executionId, jobExecutions.id))
      .where(and(eq(jobExecutions.kind, kind), eq(jobExecutions.subject, subject), isNull(jobExecutions.finishedAt)))
      .orderBy(desc(jobExecutions.id))
      .limit(1),
  );
  return row?.payload;
}
