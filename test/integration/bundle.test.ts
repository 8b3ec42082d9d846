import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, trackChild, waitExit } from '../support/exec';
import { buildImage } from '../support/oci';
import { freePort } from '../support/ports';

const ADMIN = 'admin:bundle-admin-password-1';

/**
 * `npm run bundle`, unpacked into an empty folder outside the checkout and started as an offline
 * host would: in a network namespace of its own (loopback only), PATH limited to /usr/bin:/bin and
 * the bundle's bin/, no npm variables. skopeo pushes through it from inside the same namespace.
 */
describe('offline bundle', () => {
  let tmp: string;
  let home: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-bundle-test-'));
    home = path.join(tmp, 'home');
    await mkdir(home);
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, 5000);
    }
    await rm(tmp, { recursive: true, force: true });
  });

  it('unpacks, starts without npm or network, takes a push and stops', async () => {
    const archive = path.join(tmp, 'wharf.tar.gz');
    const built = await run('npm', ['run', '--silent', 'bundle', '--', archive], { timeoutMs: 120_000, isolateHome: false });
    expect(built.code, built.stderr).toBe(0);

    const target = path.join(tmp, 'opt');
    await mkdir(target);
    const unpacked = await run('tar', ['-xzf', archive, '-C', target]);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    const [name] = readdirSync(target);
    const bundle = path.join(target, name!);
    for (const file of ['start', 'wharf.service', 'bin/wharf', 'bin/docker-registry', 'config/wharf.yaml', 'dist/main.js', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'])
      expect(existsSync(path.join(bundle, file)), file).toBe(true);
    expect(readFileSync(path.join(bundle, 'config/wharf.yaml'), 'utf8')).toMatch(/^#/m);
    expect(existsSync(path.join(bundle, 'node_modules/.bin'))).toBe(false);

    const port = await freePort();
    const registryPort = await freePort();
    const dataDir = path.join(tmp, 'data');
    const env = {
      PATH: `${bundle}/bin:/usr/bin:/bin`,
      HOME: home,
      WHARF_DATA_DIR: dataDir,
      WHARF_LISTEN: `127.0.0.1:${port}`,
      WHARF_PUBLIC_URL: `http://127.0.0.1:${port}`,
      WHARF_REGISTRY_LISTEN: `127.0.0.1:${registryPort}`,
      WHARF_REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
      WHARF_ADMIN_PASSWORD: ADMIN.split(':')[1]!,
    };
    // unshare execs in place, as do sh and the start script: the child's pid is Wharf's node.
    const output: string[] = [];
    child = spawn('/usr/bin/unshare', ['--net', '/bin/sh', '-c', '/usr/sbin/ip link set lo up && exec "$0"', path.join(bundle, 'start')], {
      cwd: tmp,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const pid = child.pid!;
    const inside = (file: string, args: string[], extraEnv?: Record<string, string>) =>
      run('/usr/bin/nsenter', [`--net=/proc/${pid}/ns/net`, file, ...args], { timeoutMs: 60_000, env: extraEnv });
    const curl = (p: string) => inside('/usr/bin/curl', ['-s', '-u', ADMIN, `http://127.0.0.1:${port}${p}`]);

    let health = '';
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      expect(child.exitCode, output.join('')).toBeNull();
      health = (await curl('/api/v1/health')).stdout;
      if (health.includes('"healthy"')) break;
    }
    expect(JSON.parse(health), output.join('')).toMatchObject({ status: 'healthy', database: 'ok', registry: 'ok' });

    // Loopback only: the namespace has no route anywhere else.
    expect(readFileSync(`/proc/${pid}/net/route`, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe(process.execPath);
    // The supervised registry is the bundle's copy, not the host's /usr/bin one.
    const { pid: registryPid } = JSON.parse(readFileSync(path.join(dataDir, 'registry.pid'), 'utf8')) as { pid: number };
    expect(readlinkSync(`/proc/${registryPid}/exe`)).toBe(path.join(bundle, 'bin/docker-registry'));

    const image = await buildImage(path.join(tmp, 'image'));
    const pushed = await inside('/usr/bin/skopeo', [
      'copy', '--dest-tls-verify=false', '--retry-times', '0', '--dest-creds', ADMIN,
      `oci:${image.dir}:latest`, `docker://127.0.0.1:${registryPort}/library/app:1`,
    ]);
    expect(pushed.code, pushed.stderr).toBe(0);
    let tags: { items?: { name: string; digest: string }[] } = {};
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && !tags.items?.length; await new Promise((r) => setTimeout(r, 200)))
      tags = JSON.parse((await curl('/api/v1/repositories/library%2Fapp/tags')).stdout) as typeof tags;
    expect(tags.items).toEqual([expect.objectContaining({ name: '1', digest: image.manifestDigest })]);

    // The bundle's CLI, on the same data directory while the server runs.
    const cli = await inside(path.join(bundle, 'bin/wharf'), ['user', 'list'], env);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^admin\b/m);

    child.kill('SIGTERM');
    expect(await waitExit(child, 15_000)).toBe(true);
    expect(child.exitCode, output.join('')).toBe(0);
    expect(existsSync(`/proc/${registryPid}`)).toBe(false);
  }, 150_000);
});
