import { spawn, type ChildProcess } from 'node:child_process';
import { trackChild, waitExit } from './exec.js';

const STDERR_TAIL = 16 * 1024;

/** A long-running helper process (registry, containerd, slapd, dockerd) started by a test fixture. */
export interface HelperProcess {
  child: ChildProcess;
  /** The last 16 KiB it wrote to stderr, for failure messages. */
  stderr(): string;
  /** Settles once the process is gone and its stderr is read to the end. */
  closed: Promise<void>;
  /** Why it no longer runs (could not start, exit code, signal), or null while it runs. */
  exitReason(): string | null;
  /** SIGTERM, SIGKILL if it is still there after `graceMs`, then wait for the exit. Safe to call again. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `file` with stdin and stdout ignored, its stderr kept, and a kill on test-process exit;
 * `user` runs it as another account (postgres refuses to run as root).
 */
export function startHelper(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; user?: { uid: number; gid: number } } = {},
): HelperProcess {
  const child = spawn(file, [...args], { stdio: ['ignore', 'ignore', 'pipe'], env: opts.env, ...opts.user });
  trackChild(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    closed,
    stderr: () => stderr,
    exitReason: () => (spawnError ? spawnError.message : running() ? null : `code ${child.exitCode}, signal ${child.signalCode}`),
    async stop(graceMs = 5000) {
      if (spawnError || !running()) return;
      child.kill('SIGTERM');
      if (!(await waitExit(child, graceMs))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    },
  };
}

export interface ReadyCheck {
  /** How the process is named in errors, e.g. "slapd". */
  name: string;
  /** Where it was to serve, for errors. */
  where?: string;
  timeoutMs: number;
  intervalMs: number;
  /** True once it serves; otherwise what the last attempt saw. */
  probe(): Promise<true | string>;
  /** Run before the error is thrown (stop the process, remove its files). */
  cleanUp(): Promise<void>;
}

/** Resolves once `probe` says ready; throws with the process's stderr when it exits first or the time runs out. */
export async function waitUntilReady(helper: HelperProcess, check: ReadyCheck): Promise<void> {
  const deadline = Date.now() + check.timeoutMs;
  const where = check.where ? ` on ${check.where}` : '';
  for (;;) {
    const why = helper.exitReason();
    if (why) {
      // The last stderr lines (the reason, usually) may still be in the pipe.
      await Promise.race([helper.closed, new Promise((r) => setTimeout(r, 1000))]);
      await check.cleanUp();
      throw new Error(`${check.name} exited before becoming ready (${why})${where}:\n${helper.stderr()}`);
    }
    const seen = await check.probe();
    if (seen === true) return;
    if (Date.now() > deadline) {
      await check.cleanUp();
      throw new Error(`${check.name} not ready${where} after ${check.timeoutMs} ms (${seen || 'no answer'}):\n${helper.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, check.intervalMs));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
};

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * SIGTERM-then-SIGKILL for a process that is no child of ours (a helper's own child), by PID;
 * `isOurs` is asked before each signal, so a PID the system gave to someone else is left alone.
 */
export async function stopPid(pid: number, isOurs: () => boolean, graceMs = 5000): Promise<void> {
  if (!isOurs()) return;
  signal(pid, 'SIGTERM');
  if (!(await waitGone(pid, graceMs)) && isOurs()) {
    signal(pid, 'SIGKILL');
    await waitGone(pid, 5000);
  }
}

/** `stop` run at most once: a fixture's stop() may come from the test and again from its afterAll. */
export function stopOnce(stop: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= stop());
}
