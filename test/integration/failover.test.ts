import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { spawnWharfServe } from '../support/cli';
import { skopeoCopy } from '../support/clients';
import { trackChild, waitExit } from '../support/exec';
import { buildImage, type BuiltImage } from '../support/oci';
import { startRegistryProcess, type RegistryProcess } from '../support/plain-registry';
import { freePort } from '../support/ports';
import { postgresForFile, type PostgresServer } from '../support/postgres';
import { registryView, wharfView } from '../support/registry-view';
import { startRoundRobinProxy, type RoundRobinProxy } from '../support/round-robin-proxy';
import { onPostgres } from '../support/test-database';
import { waitFor } from '../support/wait';
import { ADMIN_PASSWORD, admin } from '../support/wharf';

/**
 * Two `wharf serve` processes on one PostgreSQL database behind a round-robin proxy (the token
 * realm, the API and the registry's notification endpoint), a registry that neither supervises,
 * and skopeo pushing and pulling through it while one instance is killed with SIGKILL.
 */

/** The files an instance must share with the other, copied from the first one's data directory. */
const SHARED_FILES = ['token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret', 'replication.key'];
const ITERATIONS = 20;
// Each iteration is three operations; the kill comes once this many have passed.
const KILL_AFTER_OPS = 15;

interface ServeProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  /** The last of what it printed (logs, errors), for failure messages. */
  output(): string;
}

interface Operation {
  what: string;
  started: number;
  ended: number;
  code: number;
  stderr: string;
}

let work: string;
let server: PostgresServer;
let proxy: RoundRobinProxy;
let registry: RegistryProcess;
let registryHost: string;
const instances: ServeProcess[] = [];
let robot: string;
const images: BuiltImage[] = [];
// Set by the test: called when the proxy connects to a backend for a request.
let onBackendConnect: (backend: number, req: IncomingMessage) => void = () => {};

function startServe(env: Record<string, string>, listen: string, dataDir: string): ServeProcess {
  const child = spawnWharfServe({ ...env, WHARF_LISTEN: listen, WHARF_DATA_DIR: dataDir });
  trackChild(child);
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-16_384));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, url: `http://${listen}`, dataDir, output: () => output };
}

async function waitServing(p: ServeProcess): Promise<void> {
  await waitFor(
    async () => {
      if (p.child.exitCode !== null) throw new Error(`wharf serve exited (${p.child.exitCode}): ${p.output()}`);
      const me = await fetch(`${p.url}/api/v1/me`, { headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` } });
      return me.status === 200;
    },
    30_000,
    `wharf serve answering on ${p.url}`,
  );
}

async function call(method: string, p: string, body?: unknown) {
  const res = await fetch(`${proxy.url}${p}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe.skipIf(!onPostgres)('failover (PostgreSQL only: several instances need one shared database)', () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-failover-'));
    server = await postgresForFile();
    const databaseUrl = await server.createDatabase('wharf_failover');
    const listens = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    proxy = await startRoundRobinProxy(listens, { onConnect: (backend, req) => onBackendConnect(backend, req) });
    registryHost = `127.0.0.1:${await freePort()}`;

    // One configuration for both instances; only the listen address and data directory differ.
    const configFile = path.join(work, 'wharf.yaml');
    await writeFile(
      configFile,
      stringify({
        publicUrl: proxy.url,
        database: { url: databaseUrl },
        registry: {
          manage: 'false',
          url: `http://${registryHost}`,
          listen: registryHost,
          storage: path.join(work, 'registry'),
          notifyUrl: `${proxy.url}/service/notifications`,
        },
      }),
    );
    const env = { WHARF_CONFIG: configFile, WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_LOG_LEVEL: 'warn' };

    const first = startServe(env, listens[0]!, path.join(work, 'a'));
    instances.push(first);
    await waitServing(first);
    const second = path.join(work, 'b');
    await mkdir(second, { mode: 0o700 });
    for (const f of SHARED_FILES) await copyFile(path.join(first.dataDir, f), path.join(second, f));
    await mkdir(path.join(work, 'registry'), { mode: 0o700 });
    registry = await startRegistryProcess(path.join(first.dataDir, 'registry-config.yml'), `http://${registryHost}`, { readyStatus: 401 });
    instances.push(startServe(env, listens[1]!, second));
    await waitServing(instances[1]!);

    expect((await call('POST', '/api/v1/projects', { name: 'ha' })).status).toBe(201);
    const made = await call('POST', '/api/v1/projects/ha/robots', { name: 'ci', permissions: ['pull', 'push'] });
    expect(made.status).toBe(201);
    robot = `${made.body.name}:${made.body.secret}`;
    for (let i = 0; i < ITERATIONS; i++) images.push(await buildImage(path.join(work, `image-${i}`), { tag: `v${i}`, layers: 1, layerSize: 1024 }));
  }, 90_000);

  afterAll(async () => {
    for (const p of instances) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill('SIGTERM');
      if (!(await waitExit(p.child, 10_000))) {
        p.child.kill('SIGKILL');
        await waitExit(p.child, 5000);
      }
    }
    await registry?.stop();
    await proxy?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('both instances write the same registry configuration but for the path of their own copy of the certificate', async () => {
    const [a, b] = await Promise.all(instances.map((p) => readFile(path.join(p.dataDir, 'registry-config.yml'), 'utf8')));
    expect(b!.replaceAll(instances[1]!.dataDir, instances[0]!.dataDir)).toBe(a);
    expect(a).toContain(`realm: "${proxy.url}/service/token"`);
    expect(a).toContain(`url: "${proxy.url}/service/notifications"`);
  });

  it('kills one instance with SIGKILL while it holds a notification: every later push and pull succeeds, tag state and audit are complete', async () => {
    const began = Date.now();
    const victim = instances[0]!;
    let killedAt = Infinity;
    let answeredAtKill: number[] = [];
    let opsDone = 0;
    // The victim dies holding a notification: the registry must send it again, to the survivor.
    onBackendConnect = (backend, req) => {
      if (backend !== 0 || req.url !== '/service/notifications' || opsDone < KILL_AFTER_OPS || killedAt !== Infinity) return;
      killedAt = Date.now();
      answeredAtKill = proxy.answered();
      victim.child.kill('SIGKILL');
    };

    const operations: Operation[] = [];
    const expectedPushes: string[] = [];
    const expectedPulls: string[] = [];
    const reg = `docker://${registryHost}`;
    const runOp = async (what: string, src: string, dest: string, creds: { srcCreds?: string; destCreds?: string }) => {
      const started = Date.now();
      const r = await skopeoCopy(src, dest, { ...creds, timeoutMs: 30_000 });
      operations.push({ what, started, ended: Date.now(), code: r.code, stderr: r.stderr });
      opsDone++;
    };
    for (let i = 0; i < ITERATIONS; i++) {
      const repo = i % 2 === 0 ? 'ha/app' : 'ha/web';
      const image = images[i]!;
      await runOp(`push ${repo}:v${i}`, `oci:${image.dir}:v${i}`, `${reg}/${repo}:v${i}`, { destCreds: robot });
      await runOp(`push ${repo}:latest`, `oci:${image.dir}:v${i}`, `${reg}/${repo}:latest`, { destCreds: robot });
      await runOp(`pull ${repo}:v${i}`, `${reg}/${repo}:v${i}`, `oci:${path.join(work, `pulled-${i}`)}:v${i}`, { srcCreds: robot });
      expectedPushes.push(`${repo}:v${i}`, `${repo}:latest`);
      expectedPulls.push(`${repo}:v${i}`);
    }
    const loopMs = Date.now() - began;

    expect(killedAt, 'the proxy never sent the victim a request after the kill point').not.toBe(Infinity);
    expect(await waitExit(victim.child, 5000)).toBe(true);
    expect(victim.child.signalCode).toBe('SIGKILL');
    const before = operations.filter((o) => o.ended < killedAt);
    const during = operations.filter((o) => o.started < killedAt && o.ended >= killedAt);
    const after = operations.filter((o) => o.started >= killedAt);
    const failed = (ops: Operation[]) => ops.filter((o) => o.code !== 0).map((o) => `${o.what}: ${o.stderr.trim()}`);
    const figures = `${operations.length} operations in ${loopMs} ms: ${before.length} before the kill, ${during.length} during, ${after.length} after`;
    console.log(`failover: ${figures}; answers per instance at the kill ${answeredAtKill.join('/')}, at the end ${proxy.answered().join('/')}, refused ${proxy.refused().join('/')}; cut off: ${proxy.cutOff().join('; ') || 'none'}`);
    expect(failed(after), figures).toEqual([]);
    expect(failed(during), figures).toEqual([]);
    expect(failed(before), figures).toEqual([]);
    // The kill comes with the first notification the round robin hands the victim once KILL_AFTER_OPS
    // operations are done, which may be a few operations later; most of the run still follows it.
    expect(before.length + during.length + after.length).toBe(ITERATIONS * 3);
    expect(before.length, figures).toBeGreaterThanOrEqual(KILL_AFTER_OPS);
    expect(after.length, figures).toBeGreaterThanOrEqual(ITERATIONS * 3 - KILL_AFTER_OPS - 6);
    // Both instances answered before the kill; after it the proxy found the victim's port closed.
    expect(answeredAtKill.every((n) => n > 0), `answers at the kill: ${answeredAtKill.join('/')}`).toBe(true);
    expect(proxy.answered()[0]).toBe(answeredAtKill[0]);
    expect(proxy.refused()[0]).toBeGreaterThan(0);
    expect(proxy.cutOff()).toContainEqual(expect.stringMatching(/^POST \/service\/notifications -> 0: .*, then 502$/));

    // The registry re-sends what the dead instance did not take; the survivor applies it once.
    let seen = '';
    await waitFor(
      async () => {
        const [ours, theirs] = await Promise.all([wharfView(proxy.url), registryView(proxy.url, registryHost)]);
        seen = JSON.stringify({ ours, theirs });
        return isDeepStrictEqual(ours, theirs) && Object.keys(ours['ha/web'] ?? {}).length === ITERATIONS / 2 + 1;
      },
      20_000,
      'tag state equal to the registry',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${seen}`);
    });
    const settledMs = Date.now() - began - loopMs;
    const view = await wharfView(proxy.url);
    for (let i = 0; i < ITERATIONS; i++) expect(view[i % 2 === 0 ? 'ha/app' : 'ha/web']![`v${i}`]).toBe(images[i]!.manifestDigest);
    expect(view['ha/app']!.latest).toBe(images[ITERATIONS - 2]!.manifestDigest);
    expect(view['ha/web']!.latest).toBe(images[ITERATIONS - 1]!.manifestDigest);

    const auditOf = async (action: string) =>
      ((await call('GET', `/api/v1/audit?action=${action}&pageSize=500`)).body.items as { username: string; repository: string; tag: string; outcome: string }[])
        .filter((r) => r.username === robot.split(':')[0] && r.outcome === 'success')
        .map((r) => `${r.repository}:${r.tag}`)
        .sort();
    await waitFor(async () => (await auditOf('push')).length >= expectedPushes.length, 20_000, 'a push audit row for every push').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await auditOf('push'))}`);
    });
    // Exactly one row per push: a notification both instances saw is applied once.
    expect(await auditOf('push')).toEqual([...expectedPushes].sort());
    await waitFor(async () => (await auditOf('pull')).length >= expectedPulls.length, 20_000, 'a pull audit row for every pull');
    expect(await auditOf('pull')).toEqual([...expectedPulls].sort());
    console.log(`failover: tag state equal to the registry ${settledMs} ms after the last operation; audit complete ${Date.now() - began - loopMs} ms after it`);
  }, 100_000);
});
