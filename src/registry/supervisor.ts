import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Log } from '../log';
import { forgetRegistry, recordRegistry, stopStaleRegistry } from './pid-file';
import { listensOnPort } from './process';

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
  /** Removes secrets from the registry's output before it is logged or kept. */
  redact: (text: string) => string;
  /** Where the running registry is recorded, so the next Wharf can stop it if this one is killed. */
  pidFile?: string;
  /** The registry's listen port: a stale registry there would answer `ready` too, so ours must hold it. */
  listenPort?: number;
  onRestart?: () => void;
  /** Backoff after a crash: doubles from min to max; reset after the process stayed up for `stableMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stableMs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const MAX_LINE = 2000;
const KEPT_LINES = 20;

/** The registry's own words for why it stopped: its last fatal or panic message, else its last lines. */
export function exitReason(lines: readonly string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const text = /level=(?:fatal|panic)\s+msg="((?:[^"\\]|\\.)*)"/.exec(line) ?? /"level":"(?:fatal|panic)".*?"msg":"((?:[^"\\]|\\.)*)"/.exec(line);
    if (text) return text[1]!.replace(/\\(.)/g, '$1');
    if (line.startsWith('panic: ')) return line;
  }
  return lines.slice(-3).join(' | ') || 'no output';
}

/**
 * Runs the registry as a child process: stops a registry a killed predecessor left behind,
 * restarts it with backoff when it dies and says why, and stops it with SIGTERM (then SIGKILL)
 * on shutdown.
 */
export class RegistrySupervisor {
  private child: ChildProcess | null = null;
  private closed: Promise<Exit> | null = null;
  private stopping = false;
  private starting = false;
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
    if (this.opts.pidFile) await stopStaleRegistry(this.opts.pidFile, this.opts.configFile, this.opts.log);
    this.starting = true;
    try {
      await this.waitReady(this.spawnOnce(), readyTimeoutMs);
    } finally {
      this.starting = false;
    }
  }

  private spawnOnce(): { child: ChildProcess; closed: Promise<Exit>; exit: () => Exit | null } {
    const { binary, configFile, log, redact } = this.opts;
    const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    this.lastLines = [];
    log.info({ pid: child.pid, binary, configFile }, 'registry started');
    if (this.opts.pidFile && child.pid) recordRegistry(this.opts.pidFile, child.pid, configFile);
    // Whole lines only: a secret split across two chunks would slip past the redaction.
    const onLine = (raw: string) => {
      if (!raw.trim()) return;
      const line = redact(raw).slice(0, MAX_LINE);
      this.lastLines.push(line);
      if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
      log.debug({ registry: line }, 'registry output');
    };
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', onLine);
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', onLine);
    let exit: Exit | null = null;
    // 'close' comes after the output is read to the end, so the registry's last words are in lastLines.
    const closed = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve((exit = { code, signal }))));
    this.closed = closed;
    child.on('error', (err) => log.error({ err: err.message }, 'registry process error'));
    void closed.then(({ code, signal }) => {
      if (this.child === child) this.child = null;
      if (this.stopping || this.starting) return;
      const upMs = Date.now() - this.startedAt;
      if (upMs > (this.opts.stableMs ?? 60_000)) this.backoff = this.opts.minBackoffMs ?? 500;
      log.error(
        { code, signal, upMs, reason: exitReason(this.lastLines), lastOutput: this.lastLines.slice(-5), restartInMs: this.backoff },
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
    return { child, closed, exit: () => exit };
  }

  /** Ready means our child answers and holds the port, not merely that something answers there. */
  private ours(child: ChildProcess): boolean {
    if (!this.opts.listenPort || !child.pid) return true;
    return listensOnPort(child.pid, this.opts.listenPort) !== false;
  }

  private async waitReady(started: ReturnType<RegistrySupervisor['spawnOnce']>, timeoutMs: number): Promise<void> {
    const { child, closed, exit } = started;
    const deadline = Date.now() + timeoutMs;
    const exitedFirst = closed.then(() => false);
    while (Date.now() < deadline) {
      const answered = await Promise.race([this.opts.ready(), exitedFirst]);
      const ended = exit();
      if (ended) {
        const how = ended.signal ? `signal ${ended.signal}` : `code ${ended.code}`;
        throw new Error(`registry exited during start (${how}): ${exitReason(this.lastLines)}`);
      }
      if (answered && this.ours(child)) return;
      await Promise.race([new Promise((r) => setTimeout(r, 100)), exitedFirst]);
    }
    throw new Error(`registry did not become ready within ${timeoutMs} ms: ${exitReason(this.lastLines)}`);
  }

  /**
   * Stops the registry and starts it again on the same configuration file, which it reads only at
   * start (a new rootcertbundle or notification secret); the crash backoff is not involved.
   */
  async restart(readyTimeoutMs = 15_000): Promise<void> {
    if (this.stopping) return;
    this.starting = true;
    try {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = null;
      await this.terminate(10_000);
      if (this.stopping) return;
      this.opts.log.info('registry restarting to read its configuration again');
      await this.waitReady(this.spawnOnce(), readyTimeoutMs);
    } finally {
      this.starting = false;
    }
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the child is gone. */
  private async terminate(timeoutMs: number): Promise<boolean> {
    const child = this.child;
    const closed = this.closed;
    if (!child || !closed || child.exitCode !== null || child.signalCode !== null) return false;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await closed;
    clearTimeout(timer);
    return true;
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (await this.terminate(timeoutMs)) this.opts.log.info('registry stopped');
    if (this.opts.pidFile) forgetRegistry(this.opts.pidFile);
  }
}
