import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec.js';
import { startHelper, stopOnce, stopPid, waitUntilReady } from './process.js';

export type { ExecResult } from './exec.js';

/** The client the docker.io package installs; another docker on PATH may not match the engine. */
export const DOCKER = '/usr/bin/docker';

export interface DockerClient {
  /** The private DOCKER_CONFIG dir: config.json with this client's logins. */
  configDir: string;
  /** Runs `/usr/bin/docker ARGS` against the private engine with this client's config. */
  run(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** `docker login -u USER --password-stdin HOST`. */
  login(host: string, username: string, password: string): Promise<ExecResult>;
}

export interface DockerdHandle {
  /** `unix://...` for DOCKER_HOST. */
  host: string;
  dir: string;
  /** A docker CLI with its own DOCKER_CONFIG (so its own logins) on this engine. */
  client(name: string): Promise<DockerClient>;
  /** Makes a one-layer image from a tiny tarball (`docker import`): there is no internet here. */
  importImage(ref: string, content?: string): Promise<void>;
  /**
   * Drops the manifests the engine keeps in its containerd content store: an engine that still has
   * a tag's manifest only asks the registry with a HEAD, so the next pull GETs it as a fresh host would.
   */
  forgetManifests(): Promise<void>;
  /** The last lines dockerd wrote, for failure messages. */
  logTail(): string;
  /** SIGTERM dockerd (SIGKILL after 15 s), then its containerd child by PID, then remove the dir. Idempotent. */
  stop(): Promise<void>;
}

/** PIDs of the direct children of `pid`, from each process's parent in /proc (no /proc children file here). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** True when `pid` still runs a process whose command line names `dir` (not a recycled PID). */
function runsIn(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

/** Mount points inside `dir`, deepest first (dockerd bind-mounts its data root onto itself). */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Starts a private Docker engine (as root, no systemd): vfs storage, no bridge, no iptables, its
 * own data root, exec root, socket and an empty daemon.json, so nothing of the host's docker is
 * used. Loopback registries are insecure (plain HTTP) by default. Waits until the engine answers.
 */
export async function startDockerd(opts: { readyTimeoutMs?: number } = {}): Promise<DockerdHandle> {
  // Short: unix socket paths (containerd's lives under the exec root) are limited in length.
  const dir = await mkdtemp(join(tmpdir(), 'dkr-'));
  const socket = join(dir, 'sock');
  const host = `unix://${socket}`;
  const configFile = join(dir, 'daemon.json');
  await writeFile(configFile, '{}\n');
  const dockerd = startHelper('dockerd', [
    '--config-file', configFile,
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
    '--data-root', join(dir, 'd'), '--exec-root', join(dir, 'e'),
    '-H', host, '--pidfile', join(dir, 'pid'),
  ]);
  const pid = dockerd.child.pid;
  // Remembered while dockerd runs: after it exits its children are re-parented and harder to find.
  let containerdPids: number[] = [];
  const noteContainerd = () => {
    if (pid !== undefined) containerdPids = [...new Set([...containerdPids, ...childrenOf(pid).filter((p) => runsIn(p, dir))])];
  };

  const stop = stopOnce(async () => {
    noteContainerd();
    await dockerd.stop(15_000);
    for (const p of containerdPids) await stopPid(p, () => runsIn(p, dir));
    // A dockerd that had to be killed leaves its mounts behind; a clean shutdown leaves none.
    for (const point of mountsUnder(dir)) await run('umount', ['-l', point], { isolateHome: false, timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  const docker = (args: readonly string[], configDir: string, o: { input?: string; timeoutMs?: number } = {}) =>
    run(DOCKER, args, {
      isolateHome: false,
      env: { DOCKER_HOST: host, DOCKER_CONFIG: configDir, HOME: configDir },
      input: o.input,
      timeoutMs: o.timeoutMs ?? 60_000,
    });
  const adminConfig = join(dir, 'cli-admin');
  await mkdir(adminConfig);

  await waitUntilReady(dockerd, {
    name: 'dockerd',
    timeoutMs: opts.readyTimeoutMs ?? 30_000,
    intervalMs: 200,
    async probe() {
      if (!existsSync(socket)) return 'no socket yet';
      const v = await docker(['version', '--format', '{{.Server.Version}}'], adminConfig, { timeoutMs: 5000 });
      return v.code === 0 || `docker version: ${v.stderr.trim()}`;
    },
    cleanUp: stop,
  });
  noteContainerd();

  const handle: DockerdHandle = {
    host,
    dir,
    async client(name) {
      const configDir = join(dir, `cli-${name}`);
      await mkdir(configDir, { recursive: true });
      return {
        configDir,
        run: (args, o) => docker(args, configDir, o),
        login: (registry, username, password) => docker(['login', '-u', username, '--password-stdin', registry], configDir, { input: password }),
      };
    },
    async importImage(ref, content = `${ref} ${Date.now()} ${Math.random()}\n`) {
      const src = await mkdtemp(join(dir, 'import-'));
      await mkdir(join(src, 'rootfs'));
      await writeFile(join(src, 'rootfs', 'content.txt'), content);
      const tar = await run('tar', ['-C', join(src, 'rootfs'), '-cf', join(src, 'image.tar'), '.'], { isolateHome: false });
      if (tar.code !== 0) throw new Error(`tar failed: ${tar.stderr}`);
      const r = await docker(['import', join(src, 'image.tar'), ref], adminConfig);
      await rm(src, { recursive: true, force: true });
      if (r.code !== 0) throw new Error(`docker import ${ref} failed: ${r.stderr}`);
    },
    async forgetManifests() {
      const ctr = (args: string[]) => run('ctr', ['--address', join(dir, 'e', 'containerd', 'containerd.sock'), '-n', 'moby', ...args], { isolateHome: false });
      const listed = await ctr(['content', 'ls', '-q']);
      if (listed.code !== 0) throw new Error(`ctr content ls failed: ${listed.stderr}`);
      const digests = listed.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
      if (digests.length === 0) return;
      const removed = await ctr(['content', 'rm', ...digests]);
      if (removed.code !== 0) throw new Error(`ctr content rm failed: ${removed.stderr}`);
    },
    logTail: dockerd.stderr,
    stop,
  };
  return handle;
}
