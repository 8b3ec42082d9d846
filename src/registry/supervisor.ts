import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Log } from '../log';

/** Finds the registry binary: the configured path, else `registry` or `docker-registry` on PATH. */
export function findRegistryBinary(configured: string, envPath = process.env.PATH ?? ''): string | null {
  const candidates = configured ? [configured] : ['registry', 'docker-registry'];
  for (const name of candidates) {
    const dirs = name.includes('/') ? [''] : envPath.split(path.delimiter).filter(Boolean);
    for (const dir of dirs) {
      const file = dir ? path.join(dir, name) : name;
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export interface SupervisorOptions {
  binary: string;
  configFile: string;
  log: Log;
  /** Polled after a start until it answers true. */
  ready: () => Promise<boolean>;
  onRestart?: () => void;
  /** Backoff after a crash: doubles from min to max; reset after the process stayed up for `stableMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stableMs?: number;
}

/**
 * Runs the registry as a child process: restarts it with backoff when it dies and says why, and
 * stops it with SIGTERM (then SIGKILL) on shutdown.
 */
export class RegistrySupervisor {
  private child: ChildProcess | null = null;
  private stopping = false;
  private backoff: number;
  private restartTimer: NodeJS.Timeout | null = null;
  private lastLines: string[] = [];
  private startedAt = 0;
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    this.backoff = opts.minBackoffMs ?? 500;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(readyTimeoutMs = 15_000): Promise<void> {
    this.spawnOnce();
    await this.waitReady(readyTimeoutMs);
  }

  private spawnOnce(): void {
    const { binary, configFile, log } = this.opts;
    const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    this.lastLines = [];
    log.info({ pid: child.pid, binary, configFile }, 'registry started');
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.lastLines.push(line.slice(0, 2000));
        if (this.lastLines.length > 20) this.lastLines.shift();
        log.debug({ registry: line.slice(0, 2000) }, 'registry output');
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (err) => log.error({ err: err.message }, 'registry process error'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopping) return;
      const upMs = Date.now() - this.startedAt;
      if (upMs > (this.opts.stableMs ?? 60_000)) this.backoff = this.opts.minBackoffMs ?? 500;
      log.error(
        { code, signal, upMs, lastOutput: this.lastLines.slice(-5), restartInMs: this.backoff },
        'registry exited; restarting',
      );
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopping) return;
        this.restarts++;
        this.opts.onRestart?.();
        this.spawnOnce();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 30_000);
    });
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.opts.ready()) return;
      if (!this.child) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`registry did not become ready within ${timeoutMs} ms: ${this.lastLines.slice(-3).join(' | ')}`);
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.opts.log.info('registry stopped');
  }
}
