import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Behind a trusted proxy (loopback here) the client address is the nearest untrusted
 * X-Forwarded-For hop; registry events take the address of the token request that authorized
 * them, never the registry's request.addr (the client's own X-Forwarded-For).
 */

let work: string;
let image: BuiltImage;
let w: TestWharf;
const PASSWORD = 'address-password-1';
const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-addr-'));
  [image, w] = await Promise.all([buildImage(path.join(work, 'a'), { tag: 'v1' }), startTestWharf({ trustProxy: true, reconcileIntervalSeconds: 0 })]);
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'viewer', password: PASSWORD } });
  await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } });
  await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'open', public: true } });
  await w.api('PUT', '/api/v1/projects/team/members/viewer', { auth: admin, body: { role: 'guest' } });
  for (const ref of ['team/app:1', 'team/shared:1', 'open/app:1']) {
    const r = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/${ref}`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
  }
  await waitFor(async () => (await w.api('GET', '/api/v1/repositories', { auth: admin })).body.total === 3);
});
afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function token(scope: string, forwardedFor: string, creds?: string): Promise<string> {
  const headers: Record<string, string> = { 'x-forwarded-for': forwardedFor };
  if (creds) headers.authorization = basic(creds);
  const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=${encodeURIComponent(scope)}`, { headers });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** A GET of the manifest at the real registry, with an X-Forwarded-For the client made up. */
async function pullManifest(repository: string, jwt: string, claimed: string) {
  const res = await fetch(`http://${w.registry}/v2/${repository}/manifests/1`, {
    headers: { authorization: `Bearer ${jwt}`, accept: 'application/vnd.oci.image.manifest.v1+json', 'x-forwarded-for': claimed },
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

async function pullRows(repository: string, username: string, n: number) {
  const q = `/api/v1/audit?action=pull&repository=${encodeURIComponent(repository)}&username=${encodeURIComponent(username)}`;
  await waitFor(async () => (await w.api('GET', q, { auth: admin })).body.total >= n);
  return (await w.api('GET', q, { auth: admin })).body.items as { sourceIp: string | null; claimedAddr: string | null }[];
}

describe('client addresses', () => {
  it('the token endpoint audits the rightmost untrusted hop, not what the client wrote on the left', async () => {
    const res = await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: basic(`viewer:${PASSWORD}`), 'x-forwarded-for': '6.6.6.6, 198.51.100.7' } });
    expect(res.status).toBe(200);
    const login = (await w.api('GET', '/api/v1/audit?action=login&username=viewer', { auth: admin })).body.items[0];
    expect(login.sourceIp).toBe('198.51.100.7');
  });

  it('a pull takes the address of the token request that authorized it; the claimed one is only labelled', async () => {
    const jwt = await token('repository:team/app:pull', '6.6.6.6, 198.51.100.7', `viewer:${PASSWORD}`);
    await pullManifest('team/app', jwt, '6.6.6.6');
    const [row] = await pullRows('team/app', 'viewer', 1);
    expect(row).toMatchObject({ sourceIp: '198.51.100.7', claimedAddr: '6.6.6.6' });
  });

  it('when two addresses hold tokens of one subject for one repository, the pull has no address', async () => {
    const first = await token('repository:team/shared:pull', '198.51.100.1', `viewer:${PASSWORD}`);
    await token('repository:team/shared:pull', '198.51.100.2', `viewer:${PASSWORD}`);
    await pullManifest('team/shared', first, '198.51.100.1');
    const [row] = await pullRows('team/shared', 'viewer', 1);
    expect(row).toMatchObject({ sourceIp: null, claimedAddr: '198.51.100.1' });
  });

  it('anonymous pulls get the address while one address pulls anonymously, none once several do', async () => {
    const jwt = await token('repository:open/app:pull', '203.0.113.5');
    await pullManifest('open/app', jwt, '1.2.3.4');
    const [row] = await pullRows('open/app', 'anonymous', 1);
    expect(row).toMatchObject({ sourceIp: '203.0.113.5', claimedAddr: '1.2.3.4' });
    await token('repository:open/app:pull', '203.0.113.6');
    await pullManifest('open/app', jwt, '203.0.113.5');
    const rows = await pullRows('open/app', 'anonymous', 2);
    expect(rows.map((r) => r.sourceIp)).toContain(null);
  });

  it('pushes take the pusher token request address (skopeo from loopback, no header)', async () => {
    const rows = (await w.api('GET', '/api/v1/audit?action=push&repository=team%2Fapp', { auth: admin })).body.items;
    expect(rows[0]).toMatchObject({ username: 'admin', sourceIp: '127.0.0.1' });
  });
});
