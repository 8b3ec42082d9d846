import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { count } from 'drizzle-orm';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, tags, users } from '../support/tables';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { run } from '../support/exec';
import { buildImage, type BuiltImage } from '../support/oci';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD, startTestWharf } from '../support/wharf';

/** Start, restart, supervision, shutdown and TLS: what `npm start` promises. */

let work: string;
let image: BuiltImage;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-life-'));
  image = await buildImage(path.join(work, 'img'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('first start, restart and supervision', () => {
  it('writes keys and secrets 0600, fills in the registry config, and reuses everything on restart', async () => {
    const dataDir = path.join(work, 'data1');
    const w = await startTestWharf({}, { dataDir });
    let firstX5c: string | undefined;
    try {
      for (const f of ['token-signing.key', 'token-signing.crt', 'token-bundle.crt', 'notification-secret', 'registry-http-secret', 'registry-config.yml'])
        expect(((await stat(path.join(dataDir, f))).mode & 0o777).toString(8), f).toBe('600');
      const cfg = parseYaml(await readFile(w.wharf.registryConfigFile, 'utf8'));
      expect(cfg.auth.token).toEqual({
        realm: `${w.url}/service/token`,
        service: 'wharf-registry',
        issuer: 'wharf',
        rootcertbundle: path.join(dataDir, 'token-bundle.crt'),
      });
      // With nothing staged or retired the bundle is exactly the signing certificate.
      expect(await readFile(path.join(dataDir, 'token-bundle.crt'), 'utf8')).toBe(await readFile(path.join(dataDir, 'token-signing.crt'), 'utf8'));
      const secret = (await readFile(path.join(dataDir, 'notification-secret'), 'utf8')).trim();
      expect(cfg.notifications.endpoints[0].url).toBe(`${w.url}/service/notifications`);
      expect(cfg.notifications.endpoints[0].headers.Authorization).toEqual([`Bearer ${secret}`]);
      expect(cfg.notifications.endpoints[0].ignoredmediatypes).toContain('application/vnd.oci.image.layer.v1.tar+gzip');
      expect(cfg.storage.filesystem.rootdirectory).toBe(path.join(dataDir, 'registry'));
      expect(cfg.storage.delete.enabled).toBe(true);
      expect(cfg.http.addr).toBe(w.registry);

      const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/keep:1`, { destCreds: admin });
      expect(pushed.code, pushed.stderr).toBe(0);
      firstX5c = w.wharf.deps.tokenSigner.key.x5c[0];
    } finally {
      await w.stop();
    }
    const again = await startTestWharf({}, { dataDir });
    try {
      expect(again.wharf.deps.tokenSigner.key.x5c[0]).toBe(firstX5c);
      expect((await firstRow(again.wharf.deps.db.select({ n: count() }).from(users)))!.n).toBe(1);
      const pulled = await skopeoInspect(`docker://${again.registry}/library/keep:1`, admin);
      expect(pulled.code, pulled.stderr).toBe(0);
    } finally {
      await again.stop();
    }
  });

  it('restarts a registry that dies, with a metric, and stops it on shutdown', async () => {
    const w = await startTestWharf();
    const supervisor = w.wharf.supervisor!;
    const firstPid = supervisor.pid!;
    process.kill(firstPid, 'SIGKILL');
    await waitFor(() => supervisor.pid !== undefined && supervisor.pid !== firstPid);
    await waitFor(async () => (await w.api('GET', '/api/v1/health')).status === 200);
    await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:library/x:pull`);
    await fetch(`${w.url}/service/token`, { method: 'POST', body: 'x' });
    const metrics = await (await fetch(`${w.url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` } })).text();
    expect(metrics).toMatch(/^wharf_registry_restarts_total 1$/m);
    expect(metrics).toMatch(/^wharf_token_requests_total\{outcome="issued",method="GET"\} 1$/m);
    expect(metrics).toMatch(/^wharf_token_requests_total\{outcome="bad_request",method="POST"\} 1$/m);
    expect(metrics).toMatch(/^wharf_token_request_duration_seconds_count\{method="GET"\} 1$/m);
    expect(metrics).toMatch(/^wharf_process_cpu_user_seconds_total/m);
    const secondPid = supervisor.pid!;
    await w.stop();
    expect(alive(secondPid)).toBe(false);
  });

  it('health is 503 while the registry is down', async () => {
    const w = await startTestWharf();
    try {
      const up = await w.api('GET', '/api/v1/health');
      expect(up.status).toBe(200);
      expect(up.body).toEqual({ status: 'healthy', database: 'ok', registry: 'ok', ldap: 'disabled', scheduler: 'leader' });
      await w.wharf.supervisor!.stop();
      const down = await w.api('GET', '/api/v1/health');
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ status: 'unhealthy', database: 'ok', registry: 'unreachable', ldap: 'disabled', scheduler: 'leader' });
    } finally {
      await w.stop();
    }
  });
});

describe('npm start', () => {
  it('runs Wharf and the registry as one command, and SIGTERM stops both', async () => {
    const dataDir = path.join(work, 'data-main');
    const [port, regPort] = [await freePort(), await freePort()];
    const child = spawn(path.resolve('node_modules/.bin/tsx'), ['src/main.ts'], {
      env: {
        ...process.env,
        WHARF_CONFIG: '',
        WHARF_DATA_DIR: dataDir,
        WHARF_LISTEN: `127.0.0.1:${port}`,
        WHARF_PUBLIC_URL: `http://127.0.0.1:${port}`,
        WHARF_REGISTRY_LISTEN: `127.0.0.1:${regPort}`,
        WHARF_REGISTRY_URL: `http://127.0.0.1:${regPort}`,
        WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
        WHARF_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/api/v1/health`)).status === 200;
        } catch {
          return false;
        }
      }, 30_000);
      const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://127.0.0.1:${regPort}/library/one:1`, { destCreds: admin });
      expect(pushed.code, pushed.stderr).toBe(0);
      const registryPid = Number(/"pid":(\d+)/.exec(out)?.[1]);
      expect(alive(registryPid)).toBe(true);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(alive(registryPid)).toBe(false);
      // Passwords never reach the log.
      expect(out).not.toContain(ADMIN_PASSWORD);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('prints a generated admin password once when none is given', async () => {
    const dataDir = path.join(work, 'data-gen');
    const [port, regPort] = [await freePort(), await freePort()];
    const env = {
      ...process.env,
      WHARF_CONFIG: '',
      WHARF_DATA_DIR: dataDir,
      WHARF_LISTEN: `127.0.0.1:${port}`,
      WHARF_PUBLIC_URL: `http://127.0.0.1:${port}`,
      WHARF_REGISTRY_MANAGE: 'false',
      WHARF_REGISTRY_URL: `http://127.0.0.1:${regPort}`,
      WHARF_ADMIN_PASSWORD: '',
    };
    const startOnce = async () => {
      const child = spawn(path.resolve('node_modules/.bin/tsx'), ['src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      const exited = new Promise((r) => child.on('exit', r));
      await waitFor(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/api/v1/openapi.json`)).status === 200;
        } catch {
          return false;
        }
      }, 30_000);
      child.kill('SIGTERM');
      await exited;
      return out;
    };
    const first = await startOnce();
    const password = /password (\S+) \(shown once/.exec(first)?.[1];
    expect(password).toBeTruthy();
    const second = await startOnce();
    expect(second).not.toContain('shown once');
    expect(second).not.toContain(password!);
  });
});

describe('GET /metrics', () => {
  it('answers Prometheus with the configured bearer token or a system admin; anonymous 401, other users 403', async () => {
    const token = 'metrics-token-0123456789';
    const w = await startTestWharf({ metrics: { token } }, { manage: false });
    try {
      await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'plain', password: 'plain-password-1' } });
      const get = (authorization?: string) => fetch(`${w.url}/metrics`, { headers: authorization ? { authorization } : {} });
      const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;
      const ok = await get(`Bearer ${token}`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^wharf_process_cpu_user_seconds_total/m);
      expect((await get(basic(admin))).status).toBe(200);
      const anonymous = await get();
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).not.toContain('wharf_');
      expect((await get('Bearer wrong-token-0123456789')).status).toBe(401);
      expect((await get('Bearer ')).status).toBe(401);
      expect((await get(basic('plain:plain-password-1'))).status).toBe(403);
      expect((await get(basic('plain:wrong-password'))).status).toBe(401);
    } finally {
      await w.stop();
    }
  });
});

describe('TLS', () => {
  it('Wharf and the supervised registry serve HTTPS, and clients push through both', async () => {
    const certDir = path.join(work, 'tls');
    const made = await run('sh', [
      '-c',
      `mkdir -p ${certDir} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout ${certDir}/key.pem -out ${certDir}/cert.pem`,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const tls = { certFile: `${certDir}/cert.pem`, keyFile: `${certDir}/key.pem` };
    const w = await startTestWharf({ tls, registry: { tls, caFile: `${certDir}/cert.pem` } });
    try {
      expect(w.url).toMatch(/^https:/);
      const cfg = parseYaml(await readFile(w.wharf.registryConfigFile, 'utf8'));
      expect(cfg.http.tls).toEqual({ certificate: tls.certFile, key: tls.keyFile });
      expect(cfg.auth.token.realm).toBe(`${w.url}/service/token`);
      // The registry does not trust this certificate, so it posts notifications to a plain-HTTP
      // listener on loopback that serves nothing else and still wants the secret.
      const notifyUrl: string = cfg.notifications.endpoints[0].url;
      expect(notifyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/service\/notifications$/);
      expect(new URL(notifyUrl).port).not.toBe(new URL(w.url).port);
      const origin = new URL(notifyUrl).origin;
      expect((await fetch(notifyUrl, { method: 'POST', body: '{"events":[]}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
      expect((await fetch(`${origin}/api/v1/health`)).status).toBe(404);
      expect((await fetch(`${origin}/service/token?service=wharf-registry`)).status).toBe(404);
      expect((await fetch(`${origin}/`)).status).toBe(404);
      const health = await w.api('GET', '/api/v1/health').catch((e) => ({ status: 0, body: String(e) }));
      // fetch does not trust the self-signed certificate: prove it is HTTPS by asking openssl.
      expect(health.status).toBe(0);
      const probe = await run('sh', ['-c', `echo | openssl s_client -connect ${new URL(w.url).host} 2>/dev/null | head -1`]);
      expect(probe.stdout).toMatch(/CONNECTED/);
      const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/tls:1`, { destCreds: admin });
      expect(pushed.code, pushed.stderr).toBe(0);
      // Wharf trusts the registry's certificate through registry.caFile.
      expect(await w.wharf.deps.registryHealth()).toBe(true);
      // The push arrived as a notification: audited as a push by admin, tag state updated.
      await waitFor(async () =>
        (await w.wharf.deps.db.select().from(audit)).some((a) => a.action === 'push' && a.repository === 'library/tls' && a.tag === '1' && a.username === 'admin'),
      );
      expect((await w.wharf.deps.db.select().from(tags)).map((t) => t.name)).toContain('1');
    } finally {
      await w.stop();
    }
  });
});

describe('RS256 with an operator-supplied key', () => {
  it('signs with the given RSA key and certificate, and the registry accepts the tokens', async () => {
    const dir = path.join(work, 'rsa');
    const made = await run('sh', [
      '-c',
      `mkdir -p ${dir} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wharf-rsa -keyout ${dir}/key.pem -out ${dir}/cert.pem`,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const w = await startTestWharf({ token: { algorithm: 'RS256', keyFile: `${dir}/key.pem`, certFile: `${dir}/cert.pem` } });
    try {
      const cfg = parseYaml(await readFile(w.wharf.registryConfigFile, 'utf8'));
      expect(cfg.auth.token.rootcertbundle).toBe(path.join(w.dataDir, 'token-bundle.crt'));
      expect(await readFile(cfg.auth.token.rootcertbundle, 'utf8')).toBe(await readFile(`${dir}/cert.pem`, 'utf8'));
      const t = (await (await fetch(`${w.url}/service/token?service=wharf-registry`)).json()) as { token: string };
      expect(JSON.parse(Buffer.from(t.token.split('.')[0]!, 'base64url').toString()).alg).toBe('RS256');
      const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/rsa:1`, { destCreds: admin });
      expect(pushed.code, pushed.stderr).toBe(0);
      expect((await skopeoInspect(`docker://${w.registry}/library/rsa:1`, admin)).code).toBe(0);
    } finally {
      await w.stop();
    }
  });
});
