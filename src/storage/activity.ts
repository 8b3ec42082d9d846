import type { Tx } from '../db/open';
import { addProjectActivity } from './activity-store';

/**
 * Pushes and pulls of one notification batch, per project and UTC day: written once per
 * (project, day) at the end of the batch, so ingest adds one statement, not one per event.
 */
export class ActivityCounts {
  private readonly counts = new Map<string, { project: string; day: string; pushes: number; pulls: number }>();

  /** Counts one push or pull of `project` at `at` (an ISO time: its UTC day). */
  add(project: string, at: string, kind: 'push' | 'pull'): void {
    this.bump(project, at.slice(0, 10), kind === 'push' ? 1 : 0, kind === 'pull' ? 1 : 0);
  }

  /** Adds another batch's counts (an event's, once it has landed). */
  merge(other: ActivityCounts): void {
    for (const r of other.counts.values()) this.bump(r.project, r.day, r.pushes, r.pulls);
  }

  private bump(project: string, day: string, pushes: number, pulls: number): void {
    const key = `${day} ${project}`;
    const row = this.counts.get(key);
    if (row) {
      row.pushes += pushes;
      row.pulls += pulls;
    } else this.counts.set(key, { project, day, pushes, pulls });
  }

  get empty(): boolean {
    return this.counts.size === 0;
  }

  /** Writes the counts and forgets them. */
  async flush(tx: Tx): Promise<void> {
    const rows = [...this.counts.values()].sort((a, b) => (a.project < b.project ? -1 : a.project > b.project ? 1 : a.day < b.day ? -1 : 1));
    this.counts.clear();
    for (const r of rows) await addProjectActivity(tx, r);
  }
}

/** The last `days` UTC days up to and including the one of `nowMs`, oldest first (YYYY-MM-DD). */
export function lastDays(nowMs: number, days: number): string[] {
  const today = Date.UTC(new Date(nowMs).getUTCFullYear(), new Date(nowMs).getUTCMonth(), new Date(nowMs).getUTCDate());
  return Array.from({ length: days }, (_, i) => new Date(today - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}
