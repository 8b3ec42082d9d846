import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import { createLog } from '../../src/log';
import { processCommandLine, processStartTime } from '../../src/registry/process';
import { startWharf, type Wharf } from '../../src/server';
import { startPlainRegistry } from '../support/plain-registry';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { ADMIN_PASSWORD } from '../support/wharf';
import { onPostgres } from '../support/test-database';

/** The supervised registry: its output keeps no secret, its files are private, and it never outlives Wharf unnoticed. */

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-supervisor-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** Zombies count as gone: nobody may reap an orphan promptly. */
const running = (pid: number) => processStartTime(pid) !== null;

/** Registries started (through some Wharf) with this configuration file. */
function registriesFor(configFile: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => pid !== process.pid && running(pid) && processCommandLine(pid).includes(configFile));
}

/** Ends registries a failed test left behind; only ever those running our own configuration file. */
function killLeftovers(configFile: string): void {
  for (const pid of registriesFor(configFile)) process.kill(pid, 'SIGKILL');
}

function captureLog(level: string) {
  const lines: string[] = [];
  const log = createLog(level, { write: (s: string) => void lines.push(s) });
  return { log, text: () => lines.join('') };
}

async function configFor(dataDir: string, registryPort: number, extra: Partial<ConfigInput> = {}) {
  const port = await freePort();
  return resolveConfig({
    ...extra,
    listen: `127.0.0.1:${port}`,
    publicUrl: `http://127.0.0.1:${port}`,
    dataDir,
    admin: { password: ADMIN_PASSWORD },
    registry: { ...(extra.registry ?? {}), manage: 'true', listen: `127.0.0.1:${registryPort}`, url: `http://127.0.0.1:${registryPort}` },
  } as ConfigInput);
}

const modeOf = (file: string) => (statSync(file).mode & 0o777).toString(8);

describe('a registry that cannot start', () => {
  it('fails fast with its own reason, even when another registry answers on its port, and no secret reaches the log or the error', async () => {
    const dataDir = path.join(work, 'secrets');
    // Another registry holds the port and answers /v2/: only our own child may count as ready.
    const squatter = await startPlainRegistry();
    const metricsToken = 'metrics-token-0123456789abcdef';
    const bindPassword = 'ldap-bind-password-zyxw9876';
    const config = await configFor(dataDir, squatter.port, {
      logLevel: 'debug',
      metrics: { token: metricsToken },
      ldap: { bindPassword },
      // The registry echoes its notification URL at start: a way to make it print Wharf's other secrets.
      registry: { notifyUrl: `http://127.0.0.1:1/service/notifications?m=${metricsToken}&l=${bindPassword}&a=${ADMIN_PASSWORD}` },
    });
    const { log, text } = captureLog('debug');
    const started = Date.now();
    let outcome: Wharf | Error;
    try {
      outcome = await startWharf(config, { log, announce: () => {} }).catch((err: Error) => err);
      if (!(outcome instanceof Error)) await outcome.stop();
      expect(outcome).toBeInstanceOf(Error);
      const err = outcome as Error;
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(err.message).toMatch(/^registry exited during start \(code 1\): listen tcp 127\.0\.0\.1:\d+: bind: address already in use$/);

      const out = text();
      expect(out).toContain('registry output');
      expect(out).toContain('configuring endpoint wharf');
      expect(out).toContain('Authorization:[[redacted]]');
      const secrets = {
        notification: (await readFile(path.join(dataDir, 'notification-secret'), 'utf8')).trim(),
        http: (await readFile(path.join(dataDir, 'registry-http-secret'), 'utf8')).trim(),
        metricsToken,
        bindPassword,
        admin: ADMIN_PASSWORD,
      };
      for (const [name, secret] of Object.entries(secrets)) {
        expect(secret.length, name).toBeGreaterThan(8);
        expect(out.includes(secret), `${name} in the log`).toBe(false);
        expect(`${err.message}\n${err.stack}`.includes(secret), `${name} in the error`).toBe(false);
      }
      expect(registriesFor(path.join(dataDir, 'registry-config.yml'))).toEqual([]);
      expect((await fetch(`${squatter.url}/v2/`)).status).toBe(200);
    } finally {
      killLeftovers(path.join(dataDir, 'registry-config.yml'));
      await squatter.stop();
    }
  });
});

// The SQLite file and its -wal and -shm are among the files checked; on PostgreSQL they do not exist.
describe.skipIf(onPostgres)('data directory permissions', () => {
  it('creates everything owner-only whatever the umask, and tightens a loosened directory at start with one log line', async () => {
    const dataDir = path.join(work, 'modes');
    const registryPort = await freePort();
    const files = ['wharf.db', 'wharf.db-wal', 'wharf.db-shm', 'token-signing.key', 'notification-secret', 'registry-http-secret', 'registry-config.yml', 'registry.pid'];
    const expectPrivate = () => {
      expect(modeOf(dataDir), 'data directory').toBe('700');
      expect(modeOf(path.join(dataDir, 'registry')), 'registry storage').toBe('700');
      for (const f of files) expect(modeOf(path.join(dataDir, f)), f).toBe('600');
    };

    const umask = process.umask(0);
    let first: Wharf;
    try {
      first = await startWharf(await configFor(dataDir, registryPort), { log: createLog('silent'), announce: () => {} });
    } finally {
      process.umask(umask);
    }
    try {
      expectPrivate();
    } finally {
      await first.stop();
    }

    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'registry'), 0o755);
    for (const f of ['wharf.db', 'token-signing.key', 'notification-secret', 'registry-http-secret']) chmodSync(path.join(dataDir, f), 0o644);
    // Another connection (the CLI, say) holds the database open, so -wal and -shm exist with its loose mode.
    const other = new Database(path.join(dataDir, 'wharf.db'));
    other.prepare('select count(*) from users').get();
    expect(modeOf(path.join(dataDir, 'wharf.db-wal'))).toBe('644');
    const { log, text } = captureLog('info');
    try {
      const second = await startWharf(await configFor(dataDir, registryPort), { log, announce: () => {} });
      try {
        expectPrivate();
        const lines = text().split('\n').filter((l) => l.includes('tightened'));
        expect(lines).toHaveLength(1);
        const tightened: string[] = JSON.parse(lines[0]!).tightened;
        expect(tightened).toEqual(
          expect.arrayContaining([
            `${dataDir} was 755`,
            'wharf.db was 644',
            'wharf.db-wal was 644',
            'wharf.db-shm was 644',
            'token-signing.key was 644',
            'notification-secret was 644',
            `${path.join(dataDir, 'registry')} was 755`,
          ]),
        );
      } finally {
        await second.stop();
      }
    } finally {
      other.close();
    }
  });
});

describe('npm start after kill -9', () => {
  const startMain = (env: NodeJS.ProcessEnv) => {
    // node itself, not the tsx wrapper: the kill must hit the process that supervises the registry.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => out };
  };
  const envFor = (dataDir: string, port: number, regPort: number) => ({
    WHARF_CONFIG: '',
    WHARF_DATA_DIR: dataDir,
    WHARF_LISTEN: `127.0.0.1:${port}`,
    WHARF_PUBLIC_URL: `http://127.0.0.1:${port}`,
    WHARF_REGISTRY_MANAGE: 'true',
    WHARF_REGISTRY_LISTEN: `127.0.0.1:${regPort}`,
    WHARF_REGISTRY_URL: `http://127.0.0.1:${regPort}`,
    WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
    WHARF_LOG_LEVEL: 'info',
  });
  const healthy = (port: number) => async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/api/v1/health`)).status === 200;
    } catch {
      return false;
    }
  };
  const registryPid = (out: string) => Number(/"pid":(\d+)[^\n]*"msg":"registry started"/.exec(out)?.[1]);
  const stopChild = (c: ChildProcess) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL');

  it('the next start stops the registry the killed Wharf left behind and comes up healthy; nothing is left after', async () => {
    const dataDir = path.join(work, 'kill9');
    const configFile = path.join(dataDir, 'registry-config.yml');
    const [port, regPort] = [await freePort(), await freePort()];
    const env = envFor(dataDir, port, regPort);
    const first = startMain(env);
    let second: ReturnType<typeof startMain> | undefined;
    try {
      await waitFor(healthy(port), 30_000, 'first start healthy');
      const orphan = registryPid(first.out());
      expect(running(orphan)).toBe(true);
      first.child.kill('SIGKILL');
      await first.exited;
      expect(running(orphan), 'the registry outlives a killed Wharf').toBe(true);

      second = startMain(env);
      await waitFor(healthy(port), 30_000, 'second start healthy');
      // Health alone could be the orphan answering; the first reconcile runs only once the start is complete.
      await waitFor(() => second!.out().includes('reconcile finished'), 30_000, 'second start complete');
      expect(running(orphan)).toBe(false);
      const current = registryPid(second.out());
      expect(current).not.toBe(orphan);
      expect(registriesFor(configFile)).toEqual([current]);
      expect(second.out()).toContain('stopped a registry left running by a previous Wharf');

      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(registriesFor(configFile)).toEqual([]);
    } finally {
      stopChild(first.child);
      if (second) stopChild(second.child);
      killLeftovers(configFile);
    }
  });

  it('with the registry port taken by an unrelated listener, fails at once saying "address already in use"', async () => {
    const dataDir = path.join(work, 'taken');
    const [port, regPort] = [await freePort(), await freePort()];
    const sockets = new Set<Socket>();
    const listener: Server = createServer((socket) => {
      sockets.add(socket.on('error', () => {}));
    });
    await new Promise<void>((resolve) => listener.listen(regPort, '127.0.0.1', resolve));
    const started = Date.now();
    const main = startMain(envFor(dataDir, port, regPort));
    try {
      const code = await Promise.race([main.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
      expect(code, main.out()).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(main.out()).toMatch(/wharf: registry exited during start \(code 1\): listen tcp 127\.0\.0\.1:\d+: bind: address already in use/);
      expect(main.out()).not.toContain('did not become ready');
      expect(registriesFor(path.join(dataDir, 'registry-config.yml'))).toEqual([]);
      expect(readdirSync(dataDir)).not.toContain('registry.pid');
    } finally {
      stopChild(main.child);
      killLeftovers(path.join(dataDir, 'registry-config.yml'));
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => listener.close(r));
    }
  });
});

