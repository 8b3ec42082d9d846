import type { Deps } from '../deps';
import type { Scheduled } from '../db/leadership';
import { isoTime } from '../clock';
import { purgeDeliveries } from './store';

const PURGE_EVERY_MS = 60 * 60_000;

/** Deletes deliveries older than webhooks.deliveryRetentionDays, in batches; answers how many. */
export async function purgeOldDeliveries(deps: Pick<Deps, 'db' | 'clock' | 'config'>): Promise<number> {
  const before = isoTime(deps.clock.now() - deps.config.webhooks.deliveryRetentionDays * 86_400_000);
  let total = 0;
  for (;;) {
    const n = await purgeDeliveries(deps.db, before);
    total += n;
    if (n === 0) return total;
  }
}

/** For leadership.schedule: the hourly purge of old deliveries on the elected instance. */
export function scheduleDeliveryPurge(deps: Deps): Scheduled {
  const log = deps.log.child({ component: 'webhook-purge' });
  const run = () =>
    purgeOldDeliveries(deps).then(
      (n) => (n > 0 ? log.info({ deleted: n }, 'old webhook deliveries purged') : undefined),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'webhook delivery purge failed; trying again in an hour'),
    );
  const timer = setInterval(() => void run(), PURGE_EVERY_MS);
  timer.unref();
  void run();
  return { stop: () => clearInterval(timer) };
}
