import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec.js';
import { startHelper, stopOnce, waitUntilReady } from './process.js';

export type { ExecResult } from './exec.js';

export interface ContainerdHandle {
  /** Path of the containerd gRPC unix socket, for `ctr --address`. */
  address: string;
  /** Temp dir holding root/, state/, the socket and config.toml. */
  dir: string;
  /** SIGTERM (SIGKILL after 5 s), wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartContainerdOptions {
  /** Max ms to wait for `ctr version` to answer (default 15 000). */
  readyTimeoutMs?: number | undefined;
}

/**
 * Plugins disabled in the generated config: CRI (needs CNI, binds a stream
 * port, not needed to pull) and snapshotters that only log errors here.
 * overlayfs and native stay enabled; overlayfs is the default snapshotter.
 */
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
];

/**
 * Starts a private containerd (must run as root) with its own root, state,
 * socket and a minimal config (so /etc/containerd/config.toml is not used),
 * and waits until `ctr --address SOCK version` succeeds.
 */
export async function startContainerd(opts: StartContainerdOptions = {}): Promise<ContainerdHandle> {
  // Keep the path short: unix socket paths are limited to ~107 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'ctrd-'));
  const address = join(dir, 'sock');
  const config = [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    `disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}`,
    '',
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '',
    '[ttrpc]',
    `  address = ${JSON.stringify(address + '.ttrpc')}`,
    '',
    '[debug]',
    '  level = "warn"',
    '',
    '[plugins]',
    '  [plugins."io.containerd.internal.v1.opt"]',
    `    path = ${JSON.stringify(join(dir, 'opt'))}`,
    '',
  ].join('\n');
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, config);

  const containerd = startHelper('containerd', ['--config', configPath, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', address]);

  const stop = stopOnce(async () => {
    await containerd.stop(5000);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  await waitUntilReady(containerd, {
    name: 'containerd',
    timeoutMs: opts.readyTimeoutMs ?? 15_000,
    intervalMs: 100,
    async probe() {
      const version = await run('ctr', ['--address', address, 'version'], { timeoutMs: 5000, isolateHome: false });
      return version.code === 0 || `ctr version: ${version.stderr.trim()}`;
    },
    cleanUp: stop,
  });
  return { address, dir, stop };
}

export interface CtrPullOptions {
  /** "user:password" passed as --user. */
  user?: string | undefined;
  /** containerd namespace (default "test"). */
  namespace?: string | undefined;
  /** --platform value, e.g. "linux/arm64". Default: host platform (linux/amd64 here). */
  platform?: string | undefined;
  /** --all-platforms (fetch every child of an index). */
  allPlatforms?: boolean | undefined;
  /** --snapshotter (default: containerd's default, overlayfs). */
  snapshotter?: string | undefined;
  /** Kill ctr after this many ms (default 60 000). */
  timeoutMs?: number | undefined;
  /** Extra args inserted before the ref. */
  extraArgs?: string[] | undefined;
}

/**
 * `ctr --address A -n test images pull --plain-http [--user u:p] REF`.
 * REF is a plain reference like `127.0.0.1:5000/team/app:1` (no scheme).
 */
export function ctrPull(address: string, ref: string, opts: CtrPullOptions = {}): Promise<ExecResult> {
  const args = ['--address', address, '-n', opts.namespace ?? 'test', 'images', 'pull', '--plain-http'];
  if (opts.user !== undefined) args.push('--user', opts.user);
  if (opts.platform !== undefined) args.push('--platform', opts.platform);
  if (opts.allPlatforms) args.push('--all-platforms');
  if (opts.snapshotter !== undefined) args.push('--snapshotter', opts.snapshotter);
  args.push(...(opts.extraArgs ?? []), ref);
  return run('ctr', args, { timeoutMs: opts.timeoutMs });
}

/** `ctr --address A -n test images rm REF...` — handy to force re-pulls. */
export function ctrRemoveImages(address: string, refs: string[], opts: { namespace?: string | undefined } = {}): Promise<ExecResult> {
  return run('ctr', ['--address', address, '-n', opts.namespace ?? 'test', 'images', 'rm', '--sync', ...refs]);
}
