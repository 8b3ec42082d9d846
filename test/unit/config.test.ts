import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, envOverrides, loadConfig, resolveConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { notificationListener, notificationUrl } from '../../src/registry/config';

/** Configuration: defaults, WHARF_* overrides (API.md), and errors that name what is wrong. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wharf-config-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function yamlFile(content: string): string {
  const file = path.join(mkdtempSync(path.join(work, 'yaml-')), 'wharf.yaml');
  writeFileSync(file, content);
  return file;
}

/** The ConfigError a call throws (fails the test when it throws nothing or something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const get = (config: Config, keys: string[]): unknown => keys.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);

describe('resolveConfig defaults', () => {
  it('fills every default', () => {
    const c = resolveConfig({});
    expect(c.listen).toBe('0.0.0.0:8080');
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.logLevel).toBe('info');
    expect(c.trustProxy).toBe(false);
    expect(c.tls).toEqual({ certFile: '', keyFile: '' });
    expect(c.admin.password).toBe('');
    expect(c.defaultProject).toEqual({ name: 'library', public: false });
    expect(c.token).toEqual({
      issuer: 'wharf',
      service: 'wharf-registry',
      expiresIn: 900,
      algorithm: 'ES256',
      keyFile: '',
      certFile: '',
      refreshTokenDays: 30,
    });
    expect(c.auth.credentialCacheSeconds).toBe(60);
    expect(c.registry.url).toBe('http://127.0.0.1:5000');
    expect(c.registry.manage).toBe('auto');
    expect(c.registry.listen).toBe('0.0.0.0:5000');
    expect(c.registry.storage).toBe(path.join(path.resolve('./data'), 'registry'));
    expect(c.reconcileIntervalSeconds).toBe(600);
    expect(c.ldap.url).toBe('');
  });

  it('derives registry.storage from dataDir and makes both absolute', () => {
    const c = resolveConfig({ dataDir: 'rel/data' });
    expect(c.dataDir).toBe(path.resolve('rel/data'));
    expect(c.registry.storage).toBe(path.resolve('rel/data/registry'));
    expect(resolveConfig({ registry: { storage: 'store' } }).registry.storage).toBe(path.resolve('store'));
  });

  it('strips trailing slashes from URLs', () => {
    const c = resolveConfig({ publicUrl: 'https://wharf.example.com///', registry: { url: 'http://reg:5000/' } });
    expect(c.publicUrl).toBe('https://wharf.example.com');
    expect(c.registry.url).toBe('http://reg:5000');
  });

  it('does not modify its input', () => {
    const input = { token: { expiresIn: 120 } };
    resolveConfig(input, { WHARF_LISTEN: '127.0.0.1:1' });
    expect(input).toEqual({ token: { expiresIn: 120 } });
  });

  it('matches the commented defaults of config/wharf.yaml', () => {
    const fromFile = loadConfig({ WHARF_CONFIG: path.join(ROOT, 'config/wharf.yaml') });
    expect(fromFile).toEqual(resolveConfig({}));
  });
});

describe('WHARF_* overrides', () => {
  const values: Record<string, [string, unknown]> = {
    WHARF_LISTEN: ['127.0.0.1:9999', '127.0.0.1:9999'],
    WHARF_PUBLIC_URL: ['https://wharf.example.com/', 'https://wharf.example.com'],
    WHARF_DATA_DIR: ['/srv/wharf-data', '/srv/wharf-data'],
    WHARF_REGISTRY_URL: ['http://10.1.2.3:5001', 'http://10.1.2.3:5001'],
    WHARF_REGISTRY_MANAGE: ['false', 'false'],
    WHARF_REGISTRY_LISTEN: ['127.0.0.1:5999', '127.0.0.1:5999'],
    WHARF_REGISTRY_STORAGE: ['/srv/registry', '/srv/registry'],
    WHARF_REGISTRY_NOTIFY_LISTEN: ['127.0.0.1:5998', '127.0.0.1:5998'],
    WHARF_METRICS_TOKEN: ['a-metrics-token-of-32-characters', 'a-metrics-token-of-32-characters'],
    WHARF_ADMIN_PASSWORD: ['s3cret-pass', 's3cret-pass'],
    WHARF_LOG_LEVEL: ['debug', 'debug'],
    WHARF_TRUST_PROXY: ['10.0.0.0/8, 192.168.1.7,::1', ['10.0.0.0/8', '192.168.1.7', '::1']],
    WHARF_DATABASE_URL: ['postgres://wharf:pw@db.example.org:5432/wharf', 'postgres://wharf:pw@db.example.org:5432/wharf'],
    WHARF_JOBS_WORKERS: ['3', 3],
    WHARF_JOBS_LEASE_MS: ['6000', 6000],
    WHARF_JOBS_POLL_MS: ['250', 250],
    WHARF_LOG_FILE: ['/var/log/wharf/wharf.log', '/var/log/wharf/wharf.log'],
    WHARF_LOG_ACCESS: ['false', false],
    WHARF_WEBHOOKS_ALLOW_PRIVATE: ['true', true],
    WHARF_AUDIT_FORWARD_URL: ['tcp://127.0.0.1:514', 'tcp://127.0.0.1:514'],
  };

  it('this table covers every variable of envOverrides', () => {
    expect(Object.keys(values).sort()).toEqual(Object.keys(envOverrides).sort());
  });

  it.each(Object.entries(envOverrides))('%s sets %j', (name, keys) => {
    const [value, expected] = values[name]!;
    const before = get(resolveConfig({}), keys);
    const c = resolveConfig({}, { [name]: value });
    expect(get(c, keys)).toEqual(expected);
    expect(before).not.toEqual(expected);
  });

  it('applies all of them at once, over the YAML values', () => {
    const env = Object.fromEntries(Object.entries(values).map(([k, [v]]) => [k, v]));
    const c = resolveConfig(
      { listen: '0.0.0.0:1', publicUrl: 'http://a', dataDir: '/x', logLevel: 'warn', admin: { password: 'yaml' }, registry: { url: 'http://b', manage: 'true', listen: '0.0.0.0:2', storage: '/y' } },
      env,
    );
    for (const [name, keys] of Object.entries(envOverrides)) expect(get(c, keys), name).toEqual(values[name]![1]);
  });

  it('keeps YAML values the environment does not name', () => {
    const c = resolveConfig({ registry: { url: 'http://reg:5000', binary: '/usr/bin/docker-registry' } }, { WHARF_REGISTRY_MANAGE: 'true' });
    expect(c.registry.url).toBe('http://reg:5000');
    expect(c.registry.binary).toBe('/usr/bin/docker-registry');
    expect(c.registry.manage).toBe('true');
  });

  it('ignores empty variables', () => {
    expect(resolveConfig({ listen: '127.0.0.1:7000' }, { WHARF_LISTEN: '' }).listen).toBe('127.0.0.1:7000');
  });

  it('ignores variables it does not know', () => {
    expect(resolveConfig({}, { WHARF_TOKEN_EXPIRES_IN: 'nonsense', WHARF_UNKNOWN: 'x' }).token.expiresIn).toBe(900);
  });

  it('moves the default registry storage with WHARF_DATA_DIR', () => {
    expect(resolveConfig({}, { WHARF_DATA_DIR: '/srv/d' }).registry.storage).toBe('/srv/d/registry');
  });

  it('loadConfig reads WHARF_CONFIG and applies the environment on top', () => {
    const file = yamlFile('listen: 127.0.0.1:7001\ntoken:\n  expiresIn: 120\n');
    const c = loadConfig({ WHARF_CONFIG: file, WHARF_LOG_LEVEL: 'error' });
    expect(c.listen).toBe('127.0.0.1:7001');
    expect(c.token.expiresIn).toBe(120);
    expect(c.log.level).toBe('error');
    expect(loadConfig({ WHARF_CONFIG: file, WHARF_LISTEN: '127.0.0.1:7002' }).listen).toBe('127.0.0.1:7002');
  });

  it('loadConfig takes an empty YAML file as all defaults', () => {
    expect(loadConfig({ WHARF_CONFIG: yamlFile('') })).toEqual(resolveConfig({}));
    expect(loadConfig({ WHARF_CONFIG: yamlFile('# only a comment\n') })).toEqual(resolveConfig({}));
  });
});

describe('invalid configuration', () => {
  it.each([
    ['WHARF_REGISTRY_MANAGE', 'maybe', 'registry.manage'],
    ['WHARF_LISTEN', 'nonsense', 'listen'],
    ['WHARF_LISTEN', '0.0.0.0:99999', 'listen'],
    ['WHARF_PUBLIC_URL', 'ftp://x', 'publicUrl'],
    ['WHARF_PUBLIC_URL', 'not a url', 'publicUrl'],
    ['WHARF_REGISTRY_URL', 'file:///etc/passwd', 'registry.url'],
    ['WHARF_REGISTRY_LISTEN', 'localhost', 'registry.listen'],
    ['WHARF_LOG_LEVEL', 'loud', 'log.level'],
    ['WHARF_REGISTRY_NOTIFY_LISTEN', '0.0.0.0:9000', 'registry.notifyListen'],
    ['WHARF_REGISTRY_NOTIFY_LISTEN', '10.0.0.5:9000', 'registry.notifyListen'],
    ['WHARF_REGISTRY_NOTIFY_LISTEN', '127.0.0.1', 'registry.notifyListen'],
    ['WHARF_METRICS_TOKEN', 'too-short', 'metrics.token'],
  ])('%s=%s names %s and the variable', (name, value, key) => {
    const err = configError(() => resolveConfig({}, { [name]: value }));
    expect(err.message).toContain(`${key}:`);
    expect(err.message).toContain(name);
    expect(err.message).not.toContain('\n');
  });

  it('an env error is attributed to the variable even when the YAML sets the same key', () => {
    const err = configError(() => resolveConfig({ registry: { manage: 'true' } }, { WHARF_REGISTRY_MANAGE: 'maybe' }));
    expect(err.message).toMatch(/registry\.manage: .*\(from WHARF_REGISTRY_MANAGE\)/);
  });

  it('a YAML error names the key and the source, not a variable', () => {
    const err = configError(() => resolveConfig({ token: { expiresIn: 10 } }, { WHARF_LISTEN: '127.0.0.1:1' }, 'my.yaml'));
    expect(err.message).toMatch(/token\.expiresIn: .*\(in my\.yaml\)/);
    expect(err.message).not.toContain('WHARF_');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['token.expiresIn 10', { token: { expiresIn: 10 } }, 'token.expiresIn'],
    ['token.expiresIn above a day', { token: { expiresIn: 86401 } }, 'token.expiresIn'],
    ['token.expiresIn not an integer', { token: { expiresIn: 90.5 } }, 'token.expiresIn'],
    ['token.algorithm HS256', { token: { algorithm: 'HS256' } }, 'token.algorithm'],
    ['RS256 without a key', { token: { algorithm: 'RS256' } }, 'token'],
    ['keyFile without certFile', { token: { keyFile: '/k' } }, 'token'],
    ['tls half set', { tls: { certFile: '/c' } }, 'tls'],
    ['trustProxy as a string', { trustProxy: 'yes' }, 'trustProxy'],
    ['trustProxy with a host name', { trustProxy: ['proxy.example.org'] }, 'trustProxy'],
    ['trustProxy with a prefix too long', { trustProxy: ['10.0.0.0/33'] }, 'trustProxy'],
    ['trustProxy with a number', { trustProxy: 1 }, 'trustProxy'],
    ['credentialCacheSeconds above 60', { auth: { credentialCacheSeconds: 61 } }, 'auth.credentialCacheSeconds'],
    ['a nested unknown key', { token: { expiresin: 60 } }, 'token'],
    ['a section that is not a mapping', { registry: 'oops' }, 'registry'],
  ])('%s', (_label, input, key) => {
    const err = configError(() => resolveConfig(input));
    expect(err.message.startsWith(`invalid configuration: ${key}: `)).toBe(true);
  });

  it('an unknown top-level key is named', () => {
    const err = configError(() => resolveConfig({ bogus: 1, listen: '0.0.0.0:1' }));
    expect(err.message).toContain('unknown key bogus');
  });

  it('an unknown nested key is named with its section', () => {
    const err = configError(() => resolveConfig({ token: { expiresin: 60 } }));
    expect(err.message).toMatch(/token: unknown key expiresin/);
  });

  it('unknown keys in a YAML file name the key and the file', () => {
    const file = yamlFile('listen: 0.0.0.0:8080\nlistne: 0.0.0.0:9090\n');
    const err = configError(() => loadConfig({ WHARF_CONFIG: file }));
    expect(err.message).toContain('listne');
    expect(err.message).toContain(file);
  });

  it('a YAML file whose value is wrong names the key and the file', () => {
    const file = yamlFile('token:\n  expiresIn: 10\n');
    const err = configError(() => loadConfig({ WHARF_CONFIG: file }));
    expect(err.message).toContain('token.expiresIn');
    expect(err.message).toContain(file);
  });

  it.each([
    ['a list', '- listen\n- dataDir\n'],
    ['a string', 'just a string\n'],
    ['a number', '42\n'],
  ])('a YAML file holding %s is refused', (_label, content) => {
    const file = yamlFile(content);
    const err = configError(() => loadConfig({ WHARF_CONFIG: file }));
    expect(err.message).toBe(`invalid configuration: ${file} must hold a mapping`);
  });

  it('invalid YAML syntax names the file on one line', () => {
    const file = yamlFile('listen: [unclosed\ntoken:\n  expiresIn: 60\n');
    const err = configError(() => loadConfig({ WHARF_CONFIG: file }));
    expect(err.message).toContain(`${file} is not valid YAML`);
    expect(err.message).not.toContain('\n');
  });

  it('a WHARF_CONFIG that does not exist is an error', () => {
    const file = path.join(work, 'missing.yaml');
    const err = configError(() => loadConfig({ WHARF_CONFIG: file }));
    expect(err.message).toContain('WHARF_CONFIG');
    expect(err.message).toContain(file);
  });

  it('ConfigError is an Error', () => {
    expect(new ConfigError('x')).toBeInstanceOf(Error);
  });

  it('a YAML section that is not a mapping is refused even when an env variable writes into it', () => {
    configError(() => resolveConfig({ registry: 'oops' }, { WHARF_REGISTRY_URL: 'http://reg:5000' }));
  });
});

describe('the process on a configuration error', () => {
  const withoutWharfEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
    return { ...env, ...extra };
  };

  it.each([
    ['npm start', 'src/main.ts', []],
    ['a CLI command', 'src/cli.ts', ['user', 'list']],
  ])('%s with an unreachable postgres:// URL exits 2 with one line saying which and why, data directory untouched', (_what, entry, args) => {
    const dataDir = path.join(work, `pg-unreachable-${path.basename(entry, '.ts')}`);
    const env = withoutWharfEnv({ WHARF_DATA_DIR: dataDir, WHARF_DATABASE_URL: 'postgres://wharf:secretpw@127.0.0.1:1/wharf' });
    const run = spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, entry), ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('wharf: database: cannot reach PostgreSQL at 127.0.0.1:1: connection refused (is the server running, on that port?)\n');
    expect(run.stdout).not.toContain('secretpw');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('exits 2 with one stderr line naming the key and the variable, before touching the data directory', () => {
    const dataDir = path.join(work, 'proc-data');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
    env.WHARF_REGISTRY_MANAGE = 'maybe';
    env.WHARF_DATA_DIR = dataDir;
    const run = spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(2);
    const lines = run.stderr.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(lines[0]).toContain('registry.manage');
    expect(lines[0]).toContain('WHARF_REGISTRY_MANAGE');
    expect(lines[0]).toMatch(/^wharf: invalid configuration: /);
    expect(run.stdout).toBe('');
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('database', () => {
  it('defaults to SQLite in dataDir (empty url) with a pool of 10, a 30 s statement timeout and no TLS', () => {
    expect(resolveConfig({}).database).toEqual({ url: '', poolSize: 10, statementTimeoutMs: 30_000, tls: { enabled: false, caFile: '', rejectUnauthorized: true }, pgDump: '' });
  });

  it('takes postgres:// and postgresql:// URLs', () => {
    for (const url of ['postgres://u:p@db:5432/wharf', 'postgresql://u@127.0.0.1/wharf', 'postgres://u:p%40ss@[::1]:6432/wharf?application_name=wharf'])
      expect(resolveConfig({ database: { url } }).database.url).toBe(url);
  });

  it.each([
    ['not a URL', 'db.example.org:5432/wharf', /database\.url: expected a postgres:\/\/ URL, not db\.example\.org:/],
    ['another scheme', 'mysql://u:secretpw@db/wharf', /database\.url: expected a postgres:\/\/ URL, not mysql:\/\//],
    ['garbage', 'postgres://u:secretpw@db:99999/wharf', /database\.url: not a URL/],
    ['no database', 'postgres://u:secretpw@db:5432', /database\.url: no database name after the host/],
    ['TLS in the URL', 'postgres://u:secretpw@db/wharf?sslmode=require', /database\.url: TLS is set in database\.tls, not with sslmode= in the URL/],
  ])('refuses %s, naming the key and never the password', (_what, url, message) => {
    const err = configError(() => resolveConfig({}, { WHARF_DATABASE_URL: url }));
    expect(err.message).toMatch(message);
    expect(err.message).toContain('(from WHARF_DATABASE_URL)');
    expect(err.message).not.toContain('secretpw');
  });

  it('refuses a pool of 0 and unknown keys', () => {
    expect(configError(() => resolveConfig({ database: { poolSize: 0 } })).message).toContain('database.poolSize');
    expect(configError(() => resolveConfig({ database: { tls: { ca: 'x' } } })).message).toContain('database.tls: unknown key ca');
  });
});

describe('where the registry posts its notifications', () => {
  const tls = { certFile: '/etc/wharf/cert.pem', keyFile: '/etc/wharf/key.pem' };
  it('plain HTTP: the main listener, 0.0.0.0 reached through 127.0.0.1; no loopback listener', () => {
    const config = resolveConfig({ listen: '0.0.0.0:8080' });
    expect(notificationListener(config)).toBeNull();
    expect(notificationUrl(config)).toBe('http://127.0.0.1:8080/service/notifications');
  });

  it('TLS with a supervised registry: a plain-HTTP loopback listener on an ephemeral port, its bound port in the URL', () => {
    const config = resolveConfig({ listen: '0.0.0.0:8443', tls });
    expect(notificationListener(config)).toEqual({ host: '127.0.0.1', port: 0 });
    expect(notificationUrl(config, 41234)).toBe('http://127.0.0.1:41234/service/notifications');
  });

  it('TLS with a fixed notifyListen (also from WHARF_REGISTRY_NOTIFY_LISTEN), even for a registry run elsewhere on this host', () => {
    const config = resolveConfig({ tls, registry: { manage: 'false' } }, { WHARF_REGISTRY_NOTIFY_LISTEN: '[::1]:9001' });
    expect(notificationListener(config)).toEqual({ host: '::1', port: 9001 });
    expect(notificationUrl(config)).toBe('http://[::1]:9001/service/notifications');
  });

  it('TLS, registry not supervised and no notifyListen: the HTTPS listener, as before', () => {
    const config = resolveConfig({ listen: '0.0.0.0:8443', tls, registry: { manage: 'false' } });
    expect(notificationListener(config)).toBeNull();
    expect(notificationUrl(config)).toBe('https://127.0.0.1:8443/service/notifications');
  });

  it('an explicit notifyUrl wins and opens no listener', () => {
    const config = resolveConfig({ tls, registry: { notifyUrl: 'https://wharf.example.org/service/notifications', notifyListen: '127.0.0.1:9001' } });
    expect(notificationListener(config)).toBeNull();
    expect(notificationUrl(config, 5)).toBe('https://wharf.example.org/service/notifications');
  });
});
