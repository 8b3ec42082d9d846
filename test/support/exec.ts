import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Result of running an external client. Never thrown; tests assert on it. */
export interface ExecResult {
  /** Process exit code; 124 on timeout, 127 if the binary could not be started, 128+n if killed by signal n. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the process after this many ms (default 60 000). */
  timeoutMs?: number | undefined;
  /** Extra environment variables (merged over process.env and the isolation vars). */
  env?: Record<string, string> | undefined;
  /**
   * Give the process a fresh, empty HOME (also XDG_RUNTIME_DIR, XDG_CONFIG_HOME,
   * DOCKER_CONFIG, REGISTRY_AUTH_FILE pointing inside it) so no credentials from
   * ~/.docker or containers auth files are used or leaked between tests.
   * The directory is removed afterwards. Default true.
   */
  isolateHome?: boolean | undefined;
  /** Written to the process's stdin, which is then closed (e.g. for `--password-stdin`). */
  input?: string | undefined;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Runs `file args...`; resolves with {code, stdout, stderr}; never rejects. */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const isolate = opts.isolateHome ?? true;
  let home: string | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (isolate) {
    home = await mkdtemp(join(tmpdir(), 'wharf-home-'));
    env.HOME = home;
    env.XDG_RUNTIME_DIR = home;
    env.XDG_CONFIG_HOME = join(home, '.config');
    env.DOCKER_CONFIG = join(home, '.docker');
    env.REGISTRY_AUTH_FILE = join(home, 'no-such-auth.json');
  }
  Object.assign(env, opts.env ?? {});
  try {
    return await new Promise<ExecResult>((resolve) => {
      const child = execFile(
        file,
        [...args],
        { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (!err) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null; code?: unknown };
          let code: number;
          let extra = '';
          if (typeof e.code === 'number') {
            code = e.code;
          } else if (e.code === 'ENOENT' || e.code === 'EACCES') {
            code = 127;
            extra = `\n[run] cannot start ${file}: ${e.message}`;
          } else if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
            code = 1;
            extra = `\n[run] ${file}: output exceeded maxBuffer`;
          } else if (e.killed && e.signal) {
            code = 124;
            extra = `\n[run] ${file} timed out after ${timeoutMs} ms and was killed`;
          } else if (e.signal) {
            code = 128 + (SIGNALS[e.signal] ?? 0);
            extra = `\n[run] ${file} killed by ${e.signal}`;
          } else {
            code = 1;
            extra = `\n[run] ${file}: ${e.message}`;
          }
          resolve({ code, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') + extra });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  } finally {
    if (home) await rm(home, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Long-running helper processes (registry, containerd) are tracked so that they
// are SIGKILLed if the test process exits without calling stop() (e.g. a crash
// or a forgotten afterAll). Only direct children that were started here are killed.

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

/** Resolves true when the child exits within `ms`, false otherwise. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}
