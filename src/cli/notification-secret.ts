import { recordAudit } from '../audit/record';
import { parse } from './args';
import { CLI_ACTOR, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

const SUBCOMMANDS = ['stage', 'activate'];

/**
 * `wharf notification-secret stage|activate`: rotates the secret the registry presents on
 * /service/notifications. Instances accept the current and the staged secret; the registry
 * configuration carries the staged one. The secrets are never printed.
 */
export async function notificationSecretCommand(args: string[], io: Output): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError(`missing subcommand: wharf notification-secret ${SUBCOMMANDS.join('|')}`);
  if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand "notification-secret ${sub}": wharf notification-secret ${SUBCOMMANDS.join('|')}`);
  const { positionals } = parse(rest, {});
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (usage: wharf notification-secret ${sub})`);
  const [{ stageNotificationSecret, activateNotificationSecret, NEXT_NOTIFICATION_SECRET_FILE }, { RotationError }] = await Promise.all([
    import('../events/notification-secret'),
    import('../token/rotation'),
  ]);
  await withInstance(async ({ deps }, config) => {
    try {
      if (sub === 'stage') stageNotificationSecret(config.dataDir);
      else activateNotificationSecret(config.dataDir);
    } catch (err) {
      if (err instanceof RotationError) throw new CommandError(err.message);
      throw err;
    }
    await recordAudit(deps.db, {
      username: CLI_ACTOR.username,
      action: 'notification_secret_rotate',
      resourceType: 'system',
      resource: 'notification-secret',
      detail: JSON.stringify({ step: sub }),
    });
    if (sub === 'stage') {
      io.out(`staged a next notification secret in ${config.dataDir}/${NEXT_NOTIFICATION_SECRET_FILE} (mode 0600); instances accept it beside the current one`);
      io.out('next: copy the file to every other instance; a supervised registry restarts with it (restart one you run yourself with the');
      io.out('registry-config.yml Wharf writes), then run wharf notification-secret activate on every instance');
    } else {
      io.out('activated the staged notification secret; the one before is no longer accepted once instances read the file (within seconds)');
    }
  });
}
