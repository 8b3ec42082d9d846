import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../../src/app';
import { resolveConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import { userPrincipal } from '../../src/identity/authenticate';
import { bootstrapInstance } from '../../src/bootstrap';
import { createSession } from '../../src/identity/sessions';
import { findUser } from '../../src/identity/users';
import { createLog } from '../../src/log';
import { buildInstance, type Instance } from '../../src/server';
import { freePort } from './ports';
import { testDatabaseUrl } from './test-database';

export interface AppInstance {
  instance: Instance;
  /** The whole HTTP app, answered in-process with `app.request`. */
  app: ReturnType<typeof createApp>;
  dataDir: string;
  /** A signed-in browser session of an existing user: the cookie header value and its CSRF token. */
  session(username: string): Promise<{ cookie: string; csrf: string }>;
  stop(): Promise<void>;
}

/**
 * A bootstrapped Wharf (admin, default project) in this process, with no registry and no HTTP
 * listener: for pages and services that never call the registry.
 */
export async function startAppInstance(prefix: string, adminPassword = 'admin-password-1', overrides: Partial<ConfigInput> = {}): Promise<AppInstance> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const registryPort = await freePort();
  const config = resolveConfig({
    database: { url: await testDatabaseUrl(dataDir) },
    ...overrides,
    dataDir,
    logLevel: 'silent',
    admin: { password: adminPassword },
    reconcileIntervalSeconds: 0,
    registry: { manage: 'false', url: `http://127.0.0.1:${registryPort}`, listen: `127.0.0.1:${registryPort}` },
  });
  const instance = await buildInstance(config, { log: createLog('silent') });
  await bootstrapInstance(instance.deps, () => {});
  return {
    instance,
    app: createApp(instance.deps),
    dataDir,
    async session(username) {
      const s = await createSession(instance.deps, userPrincipal((await findUser(instance.deps.db, username))!, 'password'), { ip: '127.0.0.1' });
      return { cookie: `wharf_session=${s.cookieValue}`, csrf: s.csrfToken };
    },
    async stop() {
      await instance.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
