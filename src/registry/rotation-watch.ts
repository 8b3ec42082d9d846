import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema';
import { NEXT_NOTIFICATION_SECRET_FILE, NOTIFICATION_SECRET_FILE, readNotificationSecrets, type NotificationSecrets } from '../events/notification-secret';
import type { Log } from '../log';
import { readSigningPair } from '../token/keys';
import { writeTokenBundle, type SigningKeyFiles } from '../token/rotation';
import type { TokenSigner } from '../token/signer';
import { writeRegistryConfig } from './config';

export interface RotationWatchOptions {
  config: Config;
  log: Log;
  files: SigningKeyFiles;
  signer: TokenSigner;
  secrets: NotificationSecrets;
  /** How often the files are looked at; a stat of each, nothing read unless one changed. */
  intervalMs?: number;
}

const readOrEmpty = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/**
 * Notices rotated signing keys and notification secrets (the files changed by `wharf signing-key`
 * and `wharf notification-secret`, here or copied in from another instance) and applies them: the
 * signer switches key, /events accepts the new secrets, the bundle and registry configuration are
 * written again, and a supervised registry, which reads both only at start, is restarted when
 * what it was started with changed.
 */
export class RotationWatch {
  private seen: string;
  private timer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private again = false;
  private loopbackPort: number | undefined;
  private restartRegistry: (() => Promise<void>) | null = null;
  /** The bundle and registry configuration the registry last read. */
  private registryRead = '';
  readonly registryConfigFile: string;

  constructor(private readonly opts: RotationWatchOptions) {
    this.seen = this.fingerprint();
    this.registryConfigFile = this.writeRegistryFiles();
    this.registryRead = this.registryInput();
  }

  /** The registry's files as this instance writes them, with the loopback port once it is bound. */
  setLoopbackPort(port: number): void {
    this.loopbackPort = port;
    this.writeRegistryFiles();
    this.registryRead = this.registryInput();
  }

  /** From now on the files are watched; `restartRegistry` is given when this instance supervises the registry. */
  start(restartRegistry: (() => Promise<void>) | null): void {
    this.restartRegistry = restartRegistry;
    this.registryRead = this.registryInput();
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs ?? 2000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.restartRegistry = null;
    await this.reloading;
  }

  /** Looks at the files now (the poll, SIGHUP); reloads when one of them changed. */
  async check(): Promise<void> {
    if (this.fingerprint() !== this.seen) await this.reload();
    else await this.reloading;
  }

  /** Reads keys and secrets again and applies what changed; reloads never overlap. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.reloadOnce();
        } while (this.again);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  private watchedFiles(): string[] {
    const { files, config } = this.opts;
    return [
      files.key,
      files.cert,
      files.nextKey,
      files.nextCert,
      files.previousCert,
      path.join(config.dataDir, NOTIFICATION_SECRET_FILE),
      path.join(config.dataDir, NEXT_NOTIFICATION_SECRET_FILE),
    ];
  }

  private fingerprint(): string {
    return this.watchedFiles()
      .map((file) => {
        try {
          const s = statSync(file);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return '-';
        }
      })
      .join(' ');
  }

  private registryInput(): string {
    return readOrEmpty(this.opts.files.bundle) + '\0' + readOrEmpty(this.registryConfigFile);
  }

  private writeRegistryFiles(): string {
    const { config, files, secrets } = this.opts;
    writeTokenBundle(files);
    return writeRegistryConfig(config, { bundleFile: files.bundle, notificationSecret: secrets.forRegistry, loopbackPort: this.loopbackPort }).file;
  }

  private async reloadOnce(): Promise<void> {
    const { config, log, files, signer, secrets } = this.opts;
    const seen = this.fingerprint();
    let key;
    try {
      key = readSigningPair(files.key, files.cert, config.token.algorithm);
    } catch (err) {
      // Mid-activation the pair is half renamed: the next look, a moment later, finds it whole.
      log.warn({ err: (err as Error).message }, 'token signing key not readable; still signing with the key loaded before');
      return;
    }
    this.seen = seen;
    if (key.x5c[0] !== signer.key.x5c[0]) {
      signer.useKey(key);
      log.info({ certFile: key.certFile }, 'token signing key changed; signing with the new key');
    }
    const read = readNotificationSecrets(config.dataDir);
    if (read.current !== secrets.current || read.next !== secrets.next) {
      secrets.current = read.current;
      secrets.next = read.next;
      log.info({ staged: read.next !== null }, 'notification secrets changed');
    }
    this.writeRegistryFiles();
    const input = this.registryInput();
    if (input === this.registryRead) return;
    if (!this.restartRegistry) {
      log.warn({ registryConfigFile: this.registryConfigFile, bundle: files.bundle }, 'registry trust changed; restart the registry so it reads it');
      this.registryRead = input;
      return;
    }
    try {
      await this.restartRegistry();
      this.registryRead = input;
    } catch (err) {
      log.error({ err: (err as Error).message }, 'registry restart after a key or secret rotation failed');
    }
  }
}
