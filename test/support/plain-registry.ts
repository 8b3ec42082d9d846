import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { startHelper, stopOnce, waitUntilReady } from './process.js';

export interface PlainRegistryOptions {
  /** Storage root; created if missing and kept on stop(). Default: a temp dir removed on stop(). */
  storageDir?: string | undefined;
  /** Listen port on 127.0.0.1 (default: a free port). */
  port?: number | undefined;
  /** Max ms to wait for GET /v2/ to return 200 (default 10 000). */
  readyTimeoutMs?: number | undefined;
  /** One user the registry asks for with HTTP Basic (its htpasswd auth); default: no auth. */
  htpasswd?: { username: string; password: string } | undefined;
  /** storage.delete.enabled (default true). */
  deleteEnabled?: boolean | undefined;
  /** http.secret: the same one across restarts keeps upload URLs valid (default: the registry's random one). */
  httpSecret?: string | undefined;
}

export interface PlainRegistry {
  /** e.g. "http://127.0.0.1:5000" */
  url: string;
  /** e.g. "127.0.0.1:5000" (for docker://HOST/repo:tag and ctr refs) */
  host: string;
  port: number;
  storageDir: string;
  /** Last 16 KiB of the registry's stderr (for debugging failures). */
  stderr(): string;
  /** SIGTERM (SIGKILL after 5 s) and wait for exit; removes storageDir only if we created it. Idempotent. */
  stop(): Promise<void>;
}

function getStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Starts a stock Docker Distribution registry (`docker-registry serve CONFIG`)
 * on 127.0.0.1 with filesystem storage, deletes enabled and no auth (or htpasswd's Basic for one
 * user), and waits until GET /v2/ answers 200 (401 with htpasswd).
 */
export async function startPlainRegistry(opts: PlainRegistryOptions = {}): Promise<PlainRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), 'wharf-plainreg-'));
  const storageDir = opts.storageDir ?? join(workDir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const configPath = join(workDir, 'config.yml');
  // JSON strings are valid YAML scalars, so JSON.stringify quotes paths safely.
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    `    enabled: ${opts.deleteEnabled ?? true}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${JSON.stringify(host)}`,
    ...(opts.httpSecret ? [`  secret: ${JSON.stringify(opts.httpSecret)}`] : []),
    ...(opts.htpasswd ? ['auth:', '  htpasswd:', '    realm: test-registry', `    path: ${JSON.stringify(join(workDir, 'htpasswd'))}`] : []),
    '',
  ].join('\n');
  await writeFile(configPath, config);
  if (opts.htpasswd) await writeFile(join(workDir, 'htpasswd'), `${opts.htpasswd.username}:${bcrypt.hashSync(opts.htpasswd.password, 8)}\n`);

  const registry = await startRegistryProcess(configPath, url, {
    readyStatus: opts.htpasswd ? 401 : 200,
    readyTimeoutMs: opts.readyTimeoutMs,
    // workDir holds the config and, only when we created it, the storage dir.
    afterStop: () => rm(workDir, { recursive: true, force: true, maxRetries: 3 }),
  });
  return { url, host, port, storageDir, stderr: registry.stderr, stop: registry.stop };
}

export interface RegistryProcess {
  /** Last 16 KiB of the registry's stderr (for debugging failures). */
  stderr(): string;
  /** SIGTERM (SIGKILL after 5 s), wait for exit, then `afterStop`. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs `docker-registry serve CONFIG` with this configuration file (REGISTRY_* variables cleared,
 * so an outer environment cannot override it) until GET `url`/v2/ answers `readyStatus`: 200
 * without auth, 401 with Wharf's token auth.
 */
export async function startRegistryProcess(
  configPath: string,
  url: string,
  opts: { readyStatus: number; readyTimeoutMs?: number | undefined; afterStop?: () => Promise<void> },
): Promise<RegistryProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const registry = startHelper('docker-registry', ['serve', configPath], { env });
  const stop = stopOnce(async () => {
    await registry.stop(5000);
    await opts.afterStop?.();
  });
  await waitUntilReady(registry, {
    name: 'docker-registry',
    where: url,
    timeoutMs: opts.readyTimeoutMs ?? 10_000,
    intervalMs: 50,
    async probe() {
      const status = await getStatus(`${url}/v2/`, 1000);
      return status === opts.readyStatus || `last status ${status}`;
    },
    cleanUp: stop,
  });
  return { stderr: registry.stderr, stop };
}
