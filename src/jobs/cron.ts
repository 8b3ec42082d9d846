import { Cron } from 'croner';
import type { Log } from '../log';

/** Null when `expr` is a valid cron expression (croner: 5 or 6 fields), else the reason. */
export function cronProblem(expr: string): string | null {
  const fields = expr.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) return `a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first), not ${fields.length}`;
  try {
    new Cron(fields.join(' '), { paused: true }).stop();
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern:\s*/, '');
  }
}

/** Fires functions on cron expressions; run on the leader (leadership.schedule). */
export class CronTriggers {
  private readonly jobs = new Map<string, { expr: string; cron: Cron }>();

  constructor(private readonly log: Log) {}

  /** (Re)places the trigger under `key`; a firing still running when the next is due is skipped (croner's protect). */
  set(key: string, expr: string, fire: () => Promise<void>): void {
    this.delete(key);
    const problem = cronProblem(expr);
    if (problem) {
      this.log.warn({ key, expr, problem }, 'cron trigger not set: invalid expression');
      return;
    }
    const cron = new Cron(expr.trim(), { protect: true, catch: (err) => this.log.warn({ key, err: (err as Error).message }, 'cron trigger failed') }, async () => {
      await fire();
    });
    this.jobs.set(key, { expr, cron });
  }

  delete(key: string): void {
    this.jobs.get(key)?.cron.stop();
    this.jobs.delete(key);
  }

  stopAll(): void {
    for (const { cron } of this.jobs.values()) cron.stop();
    this.jobs.clear();
  }

  /** The keys set, for tests and the status page. */
  keys(): string[] {
    return [...this.jobs.keys()];
  }

  /** When `key` fires next; null when it is not set or never will. */
  nextRun(key: string): Date | null {
    return this.jobs.get(key)?.cron.nextRun() ?? null;
  }
}
