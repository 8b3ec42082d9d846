import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { bearerMatches } from '../http/bearer';
import { RotationError } from '../token/rotation';
import { randomSecret } from '../identity/passwords';
import { instanceSecret } from '../registry/config';
import { partialFileOf, replaceSecretFile } from '../token/keys';

export const NOTIFICATION_SECRET_FILE = 'notification-secret';
export const NEXT_NOTIFICATION_SECRET_FILE = 'notification-secret.next';

/**
 * The secrets the registry may present on /service/notifications: the current one and, while a
 * rotation is under way, the staged next one, which the registry configuration already carries.
 * One per instance, updated in place when the files change.
 */
export class NotificationSecrets {
  constructor(
    public current: string,
    public next: string | null = null,
  ) {}

  accepts(header: string | undefined): boolean {
    // Both are checked, so the time taken does not say which one matched.
    const current = bearerMatches(header, this.current);
    const next = this.next !== null && bearerMatches(header, this.next);
    return current || next;
  }

  /** What the registry configuration carries: the next secret once one is staged. */
  get forRegistry(): string {
    return this.next ?? this.current;
  }
}

const fileOf = (dataDir: string, name: string) => path.join(dataDir, name);

/** The data directory's secrets, the current one created on first use; a partial file left by a crash is dropped. */
export function readNotificationSecrets(dataDir: string): { current: string; next: string | null } {
  rmSync(partialFileOf(fileOf(dataDir, NEXT_NOTIFICATION_SECRET_FILE)), { force: true });
  const current = instanceSecret(dataDir, NOTIFICATION_SECRET_FILE);
  const nextFile = fileOf(dataDir, NEXT_NOTIFICATION_SECRET_FILE);
  const next = existsSync(nextFile) ? readFileSync(nextFile, 'utf8').trim() || null : null;
  return { current, next };
}

/** Writes a new next secret; refused while one is staged. */
export function stageNotificationSecret(dataDir: string): void {
  const nextFile = fileOf(dataDir, NEXT_NOTIFICATION_SECRET_FILE);
  if (existsSync(nextFile)) throw new RotationError(`a next notification secret is already staged (${nextFile}); activate it first`);
  readNotificationSecrets(dataDir);
  replaceSecretFile(nextFile, randomSecret(32) + '\n');
}

/** The next secret becomes the current one (one rename); the old one is no longer accepted. */
export function activateNotificationSecret(dataDir: string): void {
  const nextFile = fileOf(dataDir, NEXT_NOTIFICATION_SECRET_FILE);
  if (!existsSync(nextFile)) throw new RotationError(`no next notification secret staged (${nextFile}); run wharf notification-secret stage first`);
  renameSync(nextFile, fileOf(dataDir, NOTIFICATION_SECRET_FILE));
}
