import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackChild, waitExit } from './exec.js';
import { freePort } from './ports.js';

export interface PlainRegistryOptions {
  /** Storage root; created if missing and kept on stop(). Default: a temp dir removed on stop(). */
  storageDir?: string | undefined;
  /** Listen port on 127.0.0.1 (default: a free port). */
  port?: number | undefined;
  /** Max ms to wait for GET /v2/ to return 200 (default 10 000). */
  readyTimeoutMs?: number | undefined;
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

const STDERR_TAIL = 16 * 1024;

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
 * on 127.0.0.1 with filesystem storage, deletes enabled and no auth, and waits
 * until GET /v2/ answers 200.
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
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${JSON.stringify(host)}`,
    '',
  ].join('\n');
  await writeFile(configPath, config);

  // Clear REGISTRY_* env so an outer environment cannot override the config.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env });
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

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    }
    // workDir holds the config and, only when we created it, the storage dir.
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  };

  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(
        `docker-registry exited before becoming ready (${spawnError?.message ?? `code ${child.exitCode}, signal ${child.signalCode}`}):\n${stderr}`,
      );
    }
    const status = await getStatus(`${url}/v2/`, 1000);
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry not ready on ${url} after ${readyTimeoutMs} ms (last status ${status}):\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return { url, host, port, storageDir, stderr: () => stderr, stop };
}
