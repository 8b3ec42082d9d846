import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type DockerClient, type DockerdHandle, type ExecResult } from '../support/dockerd';
import { createPodmanStore, type PodmanStore } from '../support/podman';
import { run } from '../support/exec';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * The Docker engine (docker.io's dockerd and /usr/bin/docker) and podman/buildah against a real
 * Wharf supervising a real registry: logins, pushes, pulls, refusals and the messages they print.
 */

const PASSWORD = 'client-password-1';
const MAX_FAILURES = 3;

let w: TestWharf | undefined;
let dockerd: DockerdHandle | undefined;
const stores: PodmanStore[] = [];
let registry: string;
let dev: DockerClient;
let repoDigest: string;

const output = (r: ExecResult) => `${r.stdout}\n${r.stderr}`;
/** An exit code assertion that shows what the client printed, and dockerd's log, when it fails. */
const expectOk = (r: ExecResult, what: string) => expect(r.code, `${what}:\n${output(r)}\n--- dockerd ---\n${dockerd?.logTail().slice(-4000)}`).toBe(0);

const api = (...args: Parameters<TestWharf['api']>) => w!.api(...args);

async function createUser(username: string, role?: 'developer' | 'guest') {
  expect((await api('POST', '/api/v1/users', { auth: admin, body: { username, password: PASSWORD } })).status).toBe(201);
  if (role) expect((await api('PUT', `/api/v1/projects/team/members/${username}`, { auth: admin, body: { role } })).status).toBe(200);
}

async function loggedIn(name: string, username: string, password = PASSWORD): Promise<DockerClient> {
  const client = await dockerd!.client(name);
  const r = await client.login(registry, username, password);
  expectOk(r, `docker login ${username}`);
  expect(r.stdout).toContain('Login Succeeded');
  return client;
}

const digestOf = (pushOutput: string) => /digest: (sha256:[0-9a-f]{64})/.exec(pushOutput)?.[1];

beforeAll(async () => {
  const [wharf, engine] = await Promise.allSettled([startTestWharf({ auth: { maxFailures: MAX_FAILURES } }), startDockerd()]);
  if (wharf.status === 'fulfilled') w = wharf.value;
  if (engine.status === 'fulfilled') dockerd = engine.value;
  if (wharf.status === 'rejected') throw wharf.reason;
  if (engine.status === 'rejected') throw engine.reason;
  registry = w!.registry;
  expect((await api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  expect((await api('POST', '/api/v1/projects', { auth: admin, body: { name: 'pub', public: true } })).status).toBe(201);
  await createUser('dev', 'developer');
  await createUser('guest', 'guest');
  dev = await loggedIn('dev', 'dev');
  await dockerd!.importImage(`${registry}/team/app:1`);
  const pushed = await dev.run(['push', `${registry}/team/app:1`]);
  expectOk(pushed, 'docker push team/app:1');
  repoDigest = digestOf(pushed.stdout)!;
  expect(repoDigest).toBeTruthy();
}, 120_000);

afterAll(async () => {
  // Each independently: a failure in one must not leave the others running.
  await Promise.allSettled([dockerd?.stop(), w?.stop(), ...stores.map((s) => s.remove())]);
}, 60_000);

describe('docker login, push and pull', () => {
  it('a developer pushes and pulls; a guest may pull but its push is denied with docker’s own message', async () => {
    expectOk(await dev.run(['rmi', `${registry}/team/app:1`]), 'docker rmi');
    expectOk(await dev.run(['pull', `${registry}/team/app:1`]), 'docker pull by the developer');
    expectOk(await dev.run(['image', 'inspect', `${registry}/team/app:1`]), 'the pulled image is there');

    const guest = await loggedIn('guest', 'guest');
    expectOk(await guest.run(['pull', `${registry}/team/app:1`]), 'docker pull by the guest');
    expectOk(await guest.run(['tag', `${registry}/team/app:1`, `${registry}/team/app:by-guest`]), 'docker tag');
    const push = await guest.run(['push', `${registry}/team/app:by-guest`]);
    expect(push.code).not.toBe(0);
    expect(output(push)).toContain('denied: requested access to the resource is denied');
    const tags = await api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin });
    expect(tags.body.items.map((t: { name: string }) => t.name)).not.toContain('by-guest');
  });

  it('anonymous docker pulls a public project, and is refused a private one', async () => {
    const root = await loggedIn('admin', 'admin', ADMIN_PASSWORD);
    expectOk(await root.run(['tag', `${registry}/team/app:1`, `${registry}/pub/app:1`]), 'docker tag');
    expectOk(await root.run(['push', `${registry}/pub/app:1`]), 'docker push pub/app:1');
    expectOk(await root.run(['rmi', `${registry}/pub/app:1`]), 'docker rmi');

    const anonymous = await dockerd!.client('anonymous');
    expectOk(await anonymous.run(['pull', `${registry}/pub/app:1`]), 'anonymous docker pull of a public project');
    const refused = await anonymous.run(['pull', `${registry}/team/app:1`]);
    expect(refused.code).not.toBe(0);
    expect(output(refused)).toMatch(/pull access denied for [^,]*team\/app/);
  });

  it('pulls by digest', async () => {
    await dev.run(['rmi', `${registry}/team/app:1`]);
    const ref = `${registry}/team/app@${repoDigest}`;
    expectOk(await dev.run(['pull', ref]), 'docker pull by digest');
    const inspect = await dev.run(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref]);
    expectOk(inspect, 'docker image inspect');
    expect(JSON.parse(inspect.stdout)).toContain(`${registry}/team/app@${repoDigest}`);
    expectOk(await dev.run(['pull', `${registry}/team/app:1`]), 'docker pull by tag again, for the tests after');
  });

  it('a robot (robot$team+ci) logs in, pushes and pulls; docker keeps its secret, not a refresh token', async () => {
    const made = await api('POST', '/api/v1/projects/team/robots', { auth: admin, body: { name: 'ci', permissions: ['pull', 'push'] } });
    expect(made.status).toBe(201);
    expect(made.body.name).toBe('robot$team+ci');
    const robot = await loggedIn('robot', made.body.name, made.body.secret);
    expectOk(await robot.run(['tag', `${registry}/team/app:1`, `${registry}/team/robot:1`]), 'docker tag');
    expectOk(await robot.run(['push', `${registry}/team/robot:1`]), 'docker push by the robot');
    expectOk(await robot.run(['rmi', `${registry}/team/robot:1`]), 'docker rmi');
    expectOk(await robot.run(['pull', `${registry}/team/robot:1`]), 'docker pull by the robot');
    const stored = JSON.parse(await readFile(join(robot.configDir, 'config.json'), 'utf8')).auths[registry];
    expect(stored.identitytoken).toBeUndefined();
    expect(stored.auth).toBeTruthy();
  });

  it('a personal access token (wpat_...) logs in and pulls', async () => {
    const made = await api('POST', '/api/v1/users/dev/tokens', { auth: `dev:${PASSWORD}`, body: { name: 'laptop' } });
    expect(made.status).toBe(201);
    expect(made.body.secret).toMatch(/^wpat_/);
    const viaToken = await loggedIn('dev-token', 'dev', made.body.secret);
    expectOk(await viaToken.run(['pull', `${registry}/team/app:1`]), 'docker pull with a personal access token');
    expect(JSON.parse(await readFile(join(viaToken.configDir, 'config.json'), 'utf8')).auths[registry].identitytoken).toBeUndefined();
  });

  it('after a password change, the refresh token docker stored at login fails the next pull and push, with Wharf’s reason', async () => {
    await createUser('changer', 'developer');
    const changer = await loggedIn('changer', 'changer');
    // docker login stored the refresh token (identitytoken): later pulls use the POST refresh flow with it.
    expect(JSON.parse(await readFile(join(changer.configDir, 'config.json'), 'utf8')).auths[registry].identitytoken).toMatch(/^wrt_/);
    expectOk(await changer.run(['pull', `${registry}/team/app:1`]), 'docker pull before the change');
    expect((await api('PUT', '/api/v1/users/changer/password', { auth: admin, body: { newPassword: 'another-password-2' } })).status).toBe(204);
    const pull = await changer.run(['pull', `${registry}/team/app:1`]);
    expect(pull.code).not.toBe(0);
    expect(output(pull)).toContain('refresh token is invalid, expired or revoked');
    expectOk(await changer.run(['tag', `${registry}/team/app:1`, `${registry}/team/app:changer`]), 'docker tag');
    const push = await changer.run(['push', `${registry}/team/app:changer`]);
    expect(push.code).not.toBe(0);
    expect(output(push)).toContain('refresh token is invalid, expired or revoked');
  });
});

describe('docker prints why a login failed', () => {
  it('a wrong password: "invalid username or password"; after the lockout: "too many failed logins"', async () => {
    await createUser('forgetful', 'developer');
    const client = await dockerd!.client('forgetful');
    const wrong = await client.login(registry, 'forgetful', 'not-the-password');
    expect(wrong.code).not.toBe(0);
    expect(output(wrong)).toContain('unauthorized: invalid username or password');
    for (let i = 1; i < MAX_FAILURES; i++) await client.login(registry, 'forgetful', 'not-the-password');
    const locked = await client.login(registry, 'forgetful', PASSWORD);
    expect(locked.code).not.toBe(0);
    expect(output(locked)).toContain('toomanyrequests: too many failed logins for this user; try again later');
    expect(output(locked)).not.toContain('no error details found');
  });
});

describe('pull counting', () => {
  // Pulls by one user within seconds used to fold into one count.
  it('3 docker pulls of one tag by one user give pullCount 3', async () => {
    await dockerd!.importImage(`${registry}/team/counted:1`);
    expectOk(await dev.run(['push', `${registry}/team/counted:1`]), 'docker push team/counted:1');
    const tagOf = async () => {
      const r = await api('GET', '/api/v1/repositories/team%2Fcounted/tags', { auth: admin });
      return r.status === 200 ? (r.body.items as { name: string; pullCount: number }[]).find((t) => t.name === '1') : undefined;
    };
    await waitFor(tagOf, 10_000, 'the push notification');
    // Three pulls as three fresh hosts make them: the image and its cached manifest go first each
    // time (an engine that still holds the manifest only sends a HEAD, which is not a pull).
    for (let i = 0; i < 3; i++) {
      expectOk(await dev.run(['rmi', `${registry}/team/counted:1`]), `docker rmi ${i + 1}`);
      await dockerd!.forgetManifests();
      expectOk(await dev.run(['pull', `${registry}/team/counted:1`]), `docker pull ${i + 1}`);
    }
    // Every pull event is folded into the audit row's count, so this says the notifications landed.
    const pulled = async () => {
      const r = await api('GET', '/api/v1/audit?action=pull&repository=team%2Fcounted', { auth: admin });
      return (r.body.items as { count: number }[]).reduce((n, row) => n + row.count, 0) >= 3;
    };
    await waitFor(pulled, 10_000, 'three pull notifications');
    expect((await tagOf())?.pullCount).toBe(3);
  });
});

describe('podman and buildah', () => {
  it('podman manifest push --all of a two-platform list, then podman pull --arch arm64 of it', async () => {
    const builder = await createPodmanStore();
    stores.push(builder);
    await writeFile(join(builder.dir, 'content.txt'), `amd64 ${Math.random()}\n`);
    const tarball = join(builder.dir, 'amd64.tar');
    expectOk(await run('tar', ['-C', builder.dir, '-cf', tarball, 'content.txt'], { isolateHome: false }), 'tar');
    expectOk(await builder.podman(['import', '--arch', 'amd64', '--os', 'linux', tarball, 'localhost/multi-amd64']), 'podman import');
    const from = await builder.buildah(['from', '--arch', 'arm64', '--os', 'linux', 'scratch']);
    expectOk(from, 'buildah from scratch');
    const container = from.stdout.trim();
    await writeFile(join(builder.dir, 'content.txt'), `arm64 ${Math.random()}\n`);
    expectOk(await builder.buildah(['copy', container, join(builder.dir, 'content.txt'), '/content.txt']), 'buildah copy');
    expectOk(await builder.buildah(['commit', container, 'localhost/multi-arm64']), 'buildah commit');
    expectOk(await builder.buildah(['rm', container]), 'buildah rm');

    expectOk(await builder.podman(['manifest', 'create', 'localhost/multi:1']), 'podman manifest create');
    for (const image of ['localhost/multi-amd64', 'localhost/multi-arm64'])
      expectOk(await builder.podman(['manifest', 'add', 'localhost/multi:1', `containers-storage:${image}`]), `podman manifest add ${image}`);
    const push = await builder.podman(['manifest', 'push', '--all', '--tls-verify=false', '--creds', `dev:${PASSWORD}`, 'localhost/multi:1', `docker://${registry}/team/multi:1`]);
    expectOk(push, 'podman manifest push --all');
    const tag = await waitFor(async () => {
      const r = await api('GET', '/api/v1/repositories/team%2Fmulti/tags', { auth: admin });
      return r.status === 200 ? (r.body.items as { name: string; mediaType: string }[]).find((t) => t.name === '1') : undefined;
    }, 10_000, 'the pushed list in Wharf');
    expect(tag!.mediaType).toMatch(/manifest\.list|image\.index/);

    const puller = await createPodmanStore();
    stores.push(puller);
    const ref = `${registry}/team/multi:1`;
    expectOk(await puller.podman(['pull', '--arch', 'arm64', '--tls-verify=false', '--creds', `dev:${PASSWORD}`, ref]), 'podman pull --arch arm64');
    const arch = await puller.podman(['image', 'inspect', '--format', '{{.Architecture}}', ref]);
    expectOk(arch, 'podman image inspect');
    expect(arch.stdout.trim()).toBe('arm64');
    // Refused without credentials: team is private.
    const anonymous = await puller.podman(['pull', '--tls-verify=false', `${registry}/team/multi:1`]);
    expect(anonymous.code).not.toBe(0);
  });
});
