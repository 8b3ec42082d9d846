import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import type { Clock } from '../../src/clock';
import { createLog, type Log } from '../../src/log';
import { startWharf, type Wharf } from '../../src/server';
import { freePort } from './ports';
import { testDatabaseUrl } from './test-database';

export const ADMIN_PASSWORD = 'admin-password-1';

export interface TestWharf {
  wharf: Wharf;
  /** Base URL of Wharf. */
  url: string;
  /** host:port of the registry, as clients name it. */
  registry: string;
  dataDir: string;
  /** Calls Wharf's HTTP API; `auth` is "user:password". */
  api(method: string, path: string, opts?: { auth?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * A real Wharf on free loopback ports, supervising a real registry on its own temporary storage;
 * or, given `registry` (host:port), using that registry (another instance supervises it).
 */
export async function startTestWharf(
  overrides: DeepPartial<ConfigInput> = {},
  opts: { dataDir?: string; manage?: boolean; clock?: Clock; log?: Log; registry?: string } = {},
): Promise<TestWharf> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'wharf-test-')));
  const wharfPort = await freePort();
  const registryPort = opts.registry ? Number(opts.registry.split(':')[1]) : await freePort();
  const scheme = overrides.tls?.certFile ? 'https' : 'http';
  const input = {
    database: { url: await testDatabaseUrl(dataDir) },
    ...overrides,
    listen: `127.0.0.1:${wharfPort}`,
    publicUrl: `${scheme}://127.0.0.1:${wharfPort}`,
    dataDir,
    logLevel: process.env.WHARF_TEST_LOG ?? 'silent',
    admin: { password: ADMIN_PASSWORD },
    registry: {
      ...(overrides.registry ?? {}),
      manage: opts.manage === false || opts.registry ? 'false' : 'true',
      listen: `127.0.0.1:${registryPort}`,
      url: `${overrides.registry?.tls?.certFile ? 'https' : 'http'}://127.0.0.1:${registryPort}`,
    },
  } as ConfigInput;
  const config = resolveConfig(input);
  const wharf = await startWharf(config, { log: opts.log ?? createLog(config.logLevel), clock: opts.clock, announce: () => {} });
  const url = wharf.url;
  return {
    wharf,
    url,
    registry: `127.0.0.1:${registryPort}`,
    dataDir,
    async api(method, p, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${p}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await wharf.stop();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const admin = `admin:${ADMIN_PASSWORD}`;
