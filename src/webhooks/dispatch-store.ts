import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Tx } from '../db/open';
import { tablesOf } from '../db/engine';

/** The dispatcher's SQL: pulls counted over a window. */

export interface PullCount {
  project: string;
  repository: string;
  digest: string;
  count: number;
  tags: string[];
}

/** Pulls in [fromIso, toIso) per project, repository and digest (folded rows count their repeats), for these projects. */
export async function pullCounts(db: Tx, projects: string[], fromIso: string, toIso: string): Promise<PullCount[]> {
  if (projects.length === 0) return [];
  const { audit } = tablesOf(db);
  const rows = await db
    .select({ project: audit.project, repository: audit.repository, digest: audit.digest, tag: audit.tag, count: sql<number>`sum(${audit.count})` })
    .from(audit)
    .where(and(eq(audit.action, 'pull'), gte(audit.time, fromIso), lt(audit.time, toIso), inArray(audit.project, projects)))
    .groupBy(audit.project, audit.repository, audit.digest, audit.tag);
  const byImage = new Map<string, PullCount>();
  for (const r of rows) {
    if (!r.project || !r.repository || !r.digest) continue;
    const key = JSON.stringify([r.project, r.repository, r.digest]);
    const entry = byImage.get(key) ?? { project: r.project, repository: r.repository, digest: r.digest, count: 0, tags: [] };
    entry.count += Number(r.count);
    if (r.tag && entry.tags.length < 20 && !entry.tags.includes(r.tag)) entry.tags.push(r.tag);
    byImage.set(key, entry);
  }
  return [...byImage.values()];
}
