import { X509Certificate } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import type { Deps } from '../../src/deps';
import { readSigningPair, type SigningKey } from '../../src/token/keys';
import { TokenSigner } from '../../src/token/signer';
import { inProcessApi } from '../support/api-client';
import { startAppInstance, type AppInstance } from '../support/instance';

/**
 * Two Wharf instances in one process (a second instance on the same database is coming): each
 * signs with the signer in its own Deps, and neither hands out a token from the other's reuse cache.
 */

const ADMIN = 'admin:admin-password-1';
const SCOPE = 'repository:library/app:pull,push';

let a: AppInstance;
let b: AppInstance;

beforeAll(async () => {
  [a, b] = await Promise.all([startAppInstance('wharf-signer-a-'), startAppInstance('wharf-signer-b-')]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** A token for the same caller and access as every other call here, from `running`'s app. */
async function tokenFrom(running: AppInstance): Promise<string> {
  const r = await inProcessApi(running).call('GET', `/service/token?service=wharf-registry&scope=${SCOPE}`, { auth: ADMIN });
  expect(r.status).toBe(200);
  expect(r.body.scope).toBe(SCOPE);
  return r.body.token as string;
}

/** `running` with its Deps changed as given: another instance's app over the same database and data. */
const withDeps = (running: AppInstance, deps: Deps): AppInstance => ({ ...running, instance: { ...running.instance, deps }, app: createApp(deps) });

const publicKeyOf = (key: SigningKey) => new X509Certificate(Buffer.from(key.x5c[0]!, 'base64')).publicKey;
const verifies = (token: string, key: SigningKey) =>
  jwtVerify(token, publicKeyOf(key), { issuer: 'wharf', audience: 'wharf-registry' }).then(
    () => true,
    () => false,
  );
const signerOf = (instance: AppInstance) => instance.instance.deps.tokenSigner;

describe('token signers of two instances in one process', () => {
  it('each instance signs with its own key, and its tokens verify with its own certificate only', async () => {
    const fromA = await tokenFrom(a);
    const fromB = await tokenFrom(b);
    expect(fromB).not.toBe(fromA);
    expect(await verifies(fromA, signerOf(a).key)).toBe(true);
    expect(await verifies(fromA, signerOf(b).key)).toBe(false);
    expect(await verifies(fromB, signerOf(b).key)).toBe(true);
    expect(await verifies(fromB, signerOf(a).key)).toBe(false);
    // and each still reuses its own token within the window
    expect(await tokenFrom(a)).toBe(fromA);
    expect(await tokenFrom(b)).toBe(fromB);
  });

  it('two instances over one key object keep their own reuse cache and jti source', async () => {
    signerOf(a).reuse.clear();
    // Instance B as built with A's very key: what the old per-key cache shared across the process.
    const bDeps: Deps = { ...b.instance.deps, tokenSigner: new TokenSigner(signerOf(a).key) };
    const bOverA = withDeps(b, bDeps);
    const fromA = await tokenFrom(a);
    const fromB = await tokenFrom(bOverA);
    expect(await verifies(fromB, signerOf(a).key)).toBe(true);
    expect(fromB).not.toBe(fromA);
    expect(decodeJwt(fromB).jti).not.toBe(decodeJwt(fromA).jti);
    expect(signerOf(a).reuse.size).toBe(1);
    expect(bDeps.tokenSigner.reuse.size).toBe(1);
    // dropping one instance's cache leaves the other's as it was
    signerOf(a).reuse.clear();
    expect(await tokenFrom(bOverA)).toBe(fromB);
    expect(await tokenFrom(a)).not.toBe(fromA);
  });

  it('the signer is what Deps carries: an instance given another signer answers with that signer', async () => {
    const fromA = await tokenFrom(a);
    const shared = withDeps(b, { ...b.instance.deps, tokenSigner: signerOf(a) });
    expect(await tokenFrom(shared)).toBe(fromA);
  });

  it('after a key switch the instance signs with the new key, and no token of the old key comes out of its reuse cache', async () => {
    const running = await startAppInstance('wharf-signer-switch-');
    try {
      const signer = signerOf(running);
      const oldKey = signer.key;
      const before = await tokenFrom(running);
      expect(await tokenFrom(running)).toBe(before);
      const { generateSigningPair } = await import('../../src/token/keys');
      const { writeFileSync } = await import('node:fs');
      const pair = await generateSigningPair('next');
      writeFileSync(`${running.dataDir}/k.pem`, pair.keyPem);
      writeFileSync(`${running.dataDir}/c.pem`, pair.certPem);
      const newKey = readSigningPair(`${running.dataDir}/k.pem`, `${running.dataDir}/c.pem`, 'ES256');
      signer.useKey(newKey);
      const after = await tokenFrom(running);
      expect(after).not.toBe(before);
      expect(await verifies(after, newKey)).toBe(true);
      expect(await verifies(after, oldKey)).toBe(false);
      expect(await tokenFrom(running)).toBe(after);
    } finally {
      await running.stop();
    }
  });
});
