import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec.js';

export type { ExecResult } from './exec.js';

export interface PodmanStore {
  dir: string;
  /** `podman --storage-driver vfs --root D --runroot R ARGS`. */
  podman(args: readonly string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** `buildah` with the same storage, so podman sees what buildah commits. */
  buildah(args: readonly string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Removes the storage (vfs: plain files, nothing mounted). */
  remove(): Promise<void>;
}

/**
 * A private container storage for podman and buildah (as root, no systemd): vfs driver, its own
 * root and runroot, and a HOME with an empty auth file so no host login is used or written.
 */
export async function createPodmanStore(): Promise<PodmanStore> {
  const dir = await mkdtemp(join(tmpdir(), 'pdm-'));
  const home = join(dir, 'home');
  await mkdir(home);
  const authFile = join(home, 'auth.json');
  // buildah refuses a REGISTRY_AUTH_FILE that does not exist.
  await writeFile(authFile, '{"auths":{}}\n');
  const storage = ['--storage-driver', 'vfs', '--root', join(dir, 'root'), '--runroot', join(dir, 'run')];
  const env = { HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config'), REGISTRY_AUTH_FILE: authFile };
  const exec = (file: string, args: readonly string[], timeoutMs = 60_000) => run(file, [...storage, ...args], { isolateHome: false, env, timeoutMs });
  return {
    dir,
    podman: (args, o) => exec('podman', args, o?.timeoutMs),
    buildah: (args, o) => exec('buildah', args, o?.timeoutMs),
    remove: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}
