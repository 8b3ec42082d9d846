// stand-in: replaced by the jobs branch
import { Cron } from 'croner';

/** Null when `expr` is a valid cron expression (croner: 5 or 6 fields), else the reason. */
export function cronProblem(expr: string): string | null {
  const fields = expr.trim().split(/\s+/).filter(Boolean).length;
  if (fields !== 5 && fields !== 6) return 'a cron expression has 5 or 6 fields';
  try {
    new Cron(expr, { paused: true }).stop();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
