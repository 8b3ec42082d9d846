import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../../src/app';
import { resolveConfig } from '../../src/config/load';
import type { ConfigInput } from '../../src/config/schema';
import { createProject, setMember } from '../../src/access/projects';
import { createRobot } from '../../src/access/robots';
import { ensureRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import { contextFor } from '../../src/context';
import { userPrincipal } from '../../src/identity/authenticate';
import { createPersonalToken } from '../../src/identity/personal-tokens';
import { bootstrapInstance } from '../../src/bootstrap';
import { createSession } from '../../src/identity/sessions';
import { createUser, findUser } from '../../src/identity/users';
import { createLog, type Log } from '../../src/log';
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
export async function startAppInstance(
  prefix: string,
  adminPassword = 'admin-password-1',
  overrides: Partial<ConfigInput> = {},
  opts: { log?: Log } = {},
): Promise<AppInstance> {
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
  const instance = await buildInstance(config, { log: opts.log ?? createLog('silent') });
  await bootstrapInstance(instance.deps, () => {});
  // Executions made through the app run, as on a server.
  instance.startJobs();
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

/**
 * Rows in every kind of table, made through the services as a running Wharf makes them: user
 * alice (alice-password-1) a developer of the private project team, its robot ci (pull, push),
 * alice's personal token and session, team/app:v1 at `digest`, and their audit rows.
 */
export async function fillThroughServices(running: AppInstance, digest: string): Promise<{ robotCreds: string }> {
  const deps = running.instance.deps;
  const admin = contextFor(deps, userPrincipal((await findUser(deps.db, 'admin'))!, 'password'), { username: 'admin', ip: '127.0.0.1' });
  await createUser(admin, { username: 'alice', password: 'alice-password-1', email: 'alice@example.org' });
  await createProject(admin, { name: 'team', public: false });
  await setMember(admin, 'team', 'alice', 'developer');
  const robot = await createRobot(admin, 'team', { name: 'ci', permissions: ['pull', 'push'] });
  const alice = contextFor(deps, userPrincipal((await findUser(deps.db, 'alice'))!, 'password'), { username: 'alice' });
  await createPersonalToken(alice, 'alice', { name: 'laptop', expiresInDays: 30 });
  const repo = await ensureRepository(deps.db, 'team/app', 'library');
  await upsertManifest(deps.db, repo.id, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  await upsertTag(deps.db, repo.id, { name: 'v1', digest, pushedAt: new Date().toISOString(), pushedBy: 'alice' });
  await running.session('alice');
  return { robotCreds: `${robot.name}:${robot.secret}` };
}
