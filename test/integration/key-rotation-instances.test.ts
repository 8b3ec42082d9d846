import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { createLog } from '../../src/log';
import { startWharf, type Wharf } from '../../src/server';
import { runWharf, type CliResult } from '../support/cli';
import { skopeoCopy } from '../support/clients';
import { buildImage } from '../support/oci';
import { freePort } from '../support/ports';
import { onPostgres } from '../support/test-database';
import { waitFor } from '../support/wait';
import { admin, ADMIN_PASSWORD, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Two instances on one PostgreSQL database and one registry (A supervises it, B does not), each
 * with its own data directory holding copies of the key and secret files, rotated as an operator
 * would: run the step on A, copy the new files to B, run the step on B. No token of either
 * instance is refused at any step before the old key is retired.
 */

let work: string;
let a: TestWharf;
let b: Wharf;
let bDataDir: string;

const SHARED_FILES = ['token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret', 'replication.key'];
const copyBetween = (from: string, to: string, names: string[]) => Promise.all(names.map((n) => copyFile(path.join(from, n), path.join(to, n))));

describe.skipIf(!onPostgres)('rotation across two instances (several instances share one database only on PostgreSQL)', () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-rotate2-'));
    a = await startTestWharf();
    const image = await buildImage(path.join(work, 'img'));
    const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${a.registry}/library/app:1`, { destCreds: admin });
    expect(pushed.code, pushed.stderr).toBe(0);
    bDataDir = path.join(work, 'b');
    await mkdir(bDataDir, { mode: 0o700 });
    await copyBetween(a.dataDir, bDataDir, SHARED_FILES);
    const port = await freePort();
    const config = resolveConfig({
      listen: `127.0.0.1:${port}`,
      publicUrl: `http://127.0.0.1:${port}`,
      dataDir: bDataDir,
      logLevel: 'silent',
      admin: { password: ADMIN_PASSWORD },
      database: { url: a.wharf.deps.config.database.url },
      reconcileIntervalSeconds: 0,
      registry: { manage: 'false', url: `http://${a.registry}` },
    });
    b = await startWharf(config, { log: createLog('silent'), announce: () => {} });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const envOf = (dataDir: string) => ({ WHARF_DATA_DIR: dataDir, WHARF_DATABASE_URL: a.wharf.deps.config.database.url, WHARF_REGISTRY_MANAGE: 'false' });
  const onA = (args: string[]) => runWharf(args, envOf(a.dataDir));
  const onB = (args: string[]) => runWharf(args, envOf(bDataDir));
  const ok = (r: CliResult) => expect(r.code, r.stderr).toBe(0);

  const pullToken = async (url: string) => {
    const r = await fetch(`${url}/service/token?service=wharf-registry&scope=repository:library/app:pull`, {
      headers: { authorization: `Basic ${Buffer.from(admin).toString('base64')}` },
    });
    expect(r.status).toBe(200);
    return ((await r.json()) as { token: string }).token;
  };
  const leafOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { x5c: string[] }).x5c[0]!;
  const registryStatus = async (token: string) =>
    (await fetch(`http://${a.registry}/v2/library/app/manifests/1`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } }))
      .status;
  const pidOfRegistry = () => a.wharf.supervisor!.pid;
  const registryRestartedFrom = (pid: number | undefined) =>
    waitFor(async () => pidOfRegistry() !== undefined && pidOfRegistry() !== pid && (await a.wharf.deps.registry.ping()), 20_000, 'registry restarted');
  const signsWith = (url: string, leaf: string) => waitFor(async () => leafOf(await pullToken(url)) === leaf, 10_000, `${url} signing with the new key`);

  /** Every token collected so far: each must still pull. */
  const issued: { step: string; token: string }[] = [];
  const collect = async (step: string) => {
    issued.push({ step: `${step} (A)`, token: await pullToken(a.url) }, { step: `${step} (B)`, token: await pullToken(b.url) });
    const refused = [];
    for (const t of issued) if ((await registryStatus(t.token)) !== 200) refused.push(t.step);
    expect(refused).toEqual([]);
  };

  it('stage on A, copy to B, activate on A then B, retire: no token refused until the old key is retired', async () => {
    await collect('before');
    const oldLeaf = leafOf(issued[0]!.token);
    expect(leafOf(issued[1]!.token)).toBe(oldLeaf);

    const pid = pidOfRegistry();
    ok(await onA(['signing-key', 'stage']));
    await copyBetween(a.dataDir, bDataDir, ['token-signing.next.key', 'token-signing.next.crt']);
    await registryRestartedFrom(pid);
    await waitFor(async () => (await readFile(path.join(bDataDir, 'token-bundle.crt'), 'utf8')).match(/BEGIN CERTIFICATE/g)?.length === 2, 10_000, "B's bundle holding both");
    await collect('staged');

    ok(await onA(['signing-key', 'activate']));
    const newLeaf = (await readFile(path.join(a.dataDir, 'token-signing.crt'), 'utf8')).replace(/-----[A-Z ]+-----|\s/g, '');
    await signsWith(a.url, newLeaf);
    // A signs with the new key, B still with the old one: the registry takes both.
    expect(leafOf(await pullToken(b.url))).toBe(oldLeaf);
    await collect('A activated');

    ok(await onB(['signing-key', 'activate']));
    await signsWith(b.url, newLeaf);
    await collect('both activated');
    // Both instances hold the same files again.
    for (const name of ['token-signing.key', 'token-signing.crt', 'token-signing.previous.crt', 'token-bundle.crt'])
      expect(await readFile(path.join(bDataDir, name), 'utf8'), name).toBe(await readFile(path.join(a.dataDir, name), 'utf8'));

    const retirePid = pidOfRegistry();
    ok(await onA(['signing-key', 'retire', '--force']));
    ok(await onB(['signing-key', 'retire', '--force']));
    await registryRestartedFrom(retirePid);
    const fresh = [await pullToken(a.url), await pullToken(b.url)];
    for (const t of fresh) expect(await registryStatus(t)).toBe(200);
    // Retired: the tokens of the old key no longer pull.
    for (const t of issued) expect(await registryStatus(t.token), t.step).toBe(leafOf(t.token) === oldLeaf ? 401 : 200);
  });

  it('notification secret: staged on A and copied to B, both instances accept both; after activate on both, only the new one', async () => {
    const post = (url: string, secret: string) =>
      fetch(`${url}/service/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
        body: JSON.stringify({ events: [] }),
      }).then((r) => r.status);
    const read = (dir: string, name: string) => readFile(path.join(dir, name), 'utf8').then((s) => s.trim());
    const old = await read(a.dataDir, 'notification-secret');
    const pid = pidOfRegistry();
    ok(await onA(['notification-secret', 'stage']));
    await copyBetween(a.dataDir, bDataDir, ['notification-secret.next']);
    const next = await read(a.dataDir, 'notification-secret.next');
    await registryRestartedFrom(pid);
    for (const url of [a.url, b.url]) {
      await waitFor(async () => (await post(url, next)) === 200, 10_000, `${url} accepting the staged secret`);
      expect(await post(url, old)).toBe(200);
    }
    ok(await onA(['notification-secret', 'activate']));
    ok(await onB(['notification-secret', 'activate']));
    for (const url of [a.url, b.url]) {
      await waitFor(async () => (await post(url, old)) === 401, 10_000, `${url} refusing the old secret`);
      expect(await post(url, next)).toBe(200);
    }
  });
});
