import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inArray } from 'drizzle-orm';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWharf, type CliResult } from '../support/cli';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { audit, tags } from '../support/tables';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Rotating the token signing key and the notification secret on one running instance that
 * supervises the registry, with the CLI as an operator runs it: no token is refused before the
 * old key is retired, and the registry's notifications keep arriving.
 */

let work: string;
let image: BuiltImage;
let w: TestWharf;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-rotate-'));
  image = await buildImage(path.join(work, 'img'));
  w = await startTestWharf();
  const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/app:1`, { destCreds: admin });
  expect(pushed.code, pushed.stderr).toBe(0);
});
afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

const wharf = (args: string[]): Promise<CliResult> =>
  runWharf(args, { WHARF_DATA_DIR: w.dataDir, WHARF_DATABASE_URL: w.wharf.deps.config.database.url, WHARF_REGISTRY_MANAGE: 'false' });
const ok = (r: CliResult) => expect(r.code, r.stderr).toBe(0);

/** A pull token for library/app from the instance. */
async function pullToken(): Promise<string> {
  const r = await w.api('GET', '/service/token?service=wharf-registry&scope=repository:library/app:pull', { auth: admin });
  expect(r.status).toBe(200);
  return r.body.token as string;
}

/** What the registry answers a manifest HEAD with this token. */
const registryStatus = async (token: string) =>
  (await fetch(`http://${w.registry}/v2/library/app/manifests/1`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } })).status;

const leafOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { x5c: string[] }).x5c[0];
const registryPid = () => w.wharf.supervisor!.pid;

/** Waits for the supervised registry to have been started again (a new pid that answers). */
async function registryRestartedFrom(pid: number | undefined): Promise<void> {
  await waitFor(async () => registryPid() !== undefined && registryPid() !== pid && (await w.wharf.deps.registry.ping()), 20_000, 'registry restarted');
}

describe('signing key rotation on one instance', () => {
  it('stage, activate, retire: tokens of either key pull until the old one is retired', async () => {
    const before = await pullToken();
    expect(await registryStatus(before)).toBe(200);

    const pid = registryPid();
    const staged = await wharf(['signing-key', 'stage']);
    ok(staged);
    expect(staged.stdout).toMatch(/^staged the next signing key ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    expect(staged.stdout + staged.stderr).not.toMatch(/PRIVATE KEY/);
    // The bundle now holds both certificates; the registry reads it only at start, so it is restarted.
    await registryRestartedFrom(pid);
    const cfg = parseYaml(await readFile(w.wharf.registryConfigFile, 'utf8'));
    expect(cfg.auth.token.rootcertbundle).toBe(path.join(w.dataDir, 'token-bundle.crt'));
    expect((await readFile(cfg.auth.token.rootcertbundle, 'utf8')).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(await registryStatus(before)).toBe(200);
    expect(leafOf(await pullToken())).toBe(leafOf(before));

    const status = await wharf(['signing-key', 'status']);
    ok(status);
    expect(status.stdout).toMatch(/^active {4}/m);
    expect(status.stdout).toMatch(/^next {6}/m);
    expect(status.stdout).not.toMatch(/PRIVATE KEY|previous/);

    const activePid = registryPid();
    const activated = await wharf(['signing-key', 'activate']);
    ok(activated);
    const after: string = await waitFor(async () => {
      const t = await pullToken();
      return leafOf(t) !== leafOf(before) ? t : '';
    }, 10_000, 'instance signing with the new key');
    // The same certificates in the bundle: no restart, and tokens of both keys pull.
    expect(registryPid()).toBe(activePid);
    expect(await registryStatus(before)).toBe(200);
    expect(await registryStatus(after)).toBe(200);
    const pulled = await skopeoInspect(`docker://${w.registry}/library/app:1`, admin);
    expect(pulled.code, pulled.stderr).toBe(0);

    const early = await wharf(['signing-key', 'retire']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^wharf: retiring would drop the previous certificate .* wait \d+ s .* or pass --force\n$/);
    const retirePid = registryPid();
    ok(await wharf(['signing-key', 'retire', '--force']));
    await registryRestartedFrom(retirePid);
    expect(await registryStatus(after)).toBe(200);
    expect(await registryStatus(before)).toBe(401);
    expect(leafOf(await pullToken())).toBe(leafOf(after));
    expect((await wharf(['signing-key', 'rotate'])).code).toBe(2);

    const rows = await w.wharf.deps.db.select().from(audit).where(inArray(audit.action, ['signing_key_rotate']));
    expect(rows.map((r) => [r.username, JSON.parse(r.detail!).step])).toEqual([
      ['(cli)', 'stage'],
      ['(cli)', 'activate'],
      ['(cli)', 'retire'],
    ]);
  });
});

describe('notification secret rotation on one instance', () => {
  const post = (secret: string) =>
    fetch(`${w.url}/service/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify({ events: [] }),
    }).then((r) => r.status);
  const secretFile = (name: string) => readFile(path.join(w.dataDir, name), 'utf8').then((s) => s.trim());
  const configuredSecret = async () => parseYaml(await readFile(w.wharf.registryConfigFile, 'utf8')).notifications.endpoints[0].headers.Authorization[0];

  it('stage: both secrets accepted and the registry posts with the new one; activate: only the new one', async () => {
    const old = await secretFile('notification-secret');
    const pid = registryPid();
    const staged = await wharf(['notification-secret', 'stage']);
    ok(staged);
    const next = await secretFile('notification-secret.next');
    expect(staged.stdout + staged.stderr).not.toContain(next);
    expect(staged.stdout).not.toContain(old);
    await registryRestartedFrom(pid);
    expect(await configuredSecret()).toBe(`Bearer ${next}`);
    expect(await post(old)).toBe(200);
    expect(await post(next)).toBe(200);

    // The restarted registry's own notification arrives with the staged secret.
    const pushed = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/app:staged`, { destCreds: admin });
    expect(pushed.code, pushed.stderr).toBe(0);
    await waitFor(async () => (await w.wharf.deps.db.select().from(tags)).some((t) => t.name === 'staged'), 15_000, 'push event applied');

    const activePid = registryPid();
    ok(await wharf(['notification-secret', 'activate']));
    await waitFor(async () => (await post(old)) === 401, 10_000, 'old secret refused');
    expect(await post(next)).toBe(200);
    expect(await secretFile('notification-secret')).toBe(next);
    // The registry already posts with this one: it is not restarted again.
    expect(registryPid()).toBe(activePid);
    const pushedAfter = await skopeoCopy(`oci:${image.dir}:latest`, `docker://${w.registry}/library/app:active`, { destCreds: admin });
    expect(pushedAfter.code, pushedAfter.stderr).toBe(0);
    await waitFor(async () => (await w.wharf.deps.db.select().from(tags)).some((t) => t.name === 'active'), 15_000, 'push event applied');

    const rows = await w.wharf.deps.db.select().from(audit).where(inArray(audit.action, ['notification_secret_rotate']));
    expect(rows.map((r) => JSON.parse(r.detail!).step)).toEqual(['stage', 'activate']);
    for (const r of rows) expect(JSON.stringify(r)).not.toContain(next);
  });
});
