import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import { WebhookReceiver, type Received } from '../support/webhook-receiver';
import { WebhookDispatcher } from '../../src/webhooks/dispatch';

const SECRET = 'a-webhook-secret-of-some-length';
const PROJECT = 'hooks';

/** The receiver's own check of X-Wharf-Signature, in constant time. */
function signatureValid(r: Received, secret = SECRET): boolean {
  const got = String(r.headers['x-wharf-signature'] ?? '');
  const want = `sha256=${createHmac('sha256', secret).update(r.body, 'utf8').digest('hex')}`;
  return got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

const bodyOf = (r: Received) => JSON.parse(r.body) as Record<string, any>;
const ofType = (type: string) => (r: Received) => r.headers['x-wharf-event-type'] === type;

describe('webhooks against the registry, skopeo and a real receiver', () => {
  let w: TestWharf;
  let work: string;
  let images: BuiltImage[];
  const receiver = new WebhookReceiver();
  const other = new WebhookReceiver();

  const hook = (name: string, body: Record<string, unknown>) => w.api('POST', `/api/v1/projects/${PROJECT}/webhooks`, { auth: admin, body: { name, ...body } });
  const push = async (image: BuiltImage, ref: string) => {
    const r = await skopeoCopy(`oci:${image.dir}:v`, `docker://${w.registry}/${PROJECT}/${ref}`, { destCreds: admin });
    expect(r.code, r.stderr).toBe(0);
  };
  const deliveries = async (name: string) => (await w.api('GET', `/api/v1/projects/${PROJECT}/webhooks/${name}/deliveries`, { auth: admin })).body.items as any[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-webhooks-'));
    [w, images] = await Promise.all([
      startTestWharf({ webhooks: { allowPrivateTargets: true, retryBaseMs: 200, retryMaxMs: 800 } }),
      Promise.all(['a', 'b', 'c'].map((n) => buildImage(path.join(work, n), { tag: 'v', layers: 1, layerSize: 512 }))),
    ]);
    await Promise.all([receiver.start(), other.start()]);
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: PROJECT } })).status).toBe(201);
    expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'elsewhere' } })).status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([receiver.stop(), other.stop()]);
    await w?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a skopeo push arrives once as a signed CloudEvent; the secret is never shown; other projects and disabled webhooks get nothing', async () => {
    const made = await hook('ci', { url: `${receiver.url}/ci?token=receiver-token`, events: ['push', 'delete', 'pull'], secret: SECRET });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ name: 'ci', hasSecret: true, format: 'cloudevents', enabled: true, events: ['push', 'pull', 'delete'] });
    expect(JSON.stringify(made.body)).not.toContain(SECRET);
    expect((await hook('off', { url: `${other.url}/off`, events: ['push'], enabled: false })).status).toBe(201);
    expect((await w.api('POST', '/api/v1/projects/elsewhere/webhooks', { auth: admin, body: { name: 'x', url: `${other.url}/x`, events: ['push'] } })).status).toBe(201);

    await push(images[0]!, 'app:1.0');
    const [got] = await receiver.waitForRequests(1, ofType('org.wharf.artifact.pushed'));
    expect(got!.headers['content-type']).toContain('application/cloudevents+json');
    expect(got!.url).toBe('/ci?token=receiver-token');
    expect(signatureValid(got!)).toBe(true);
    expect(signatureValid(got!, 'another-secret-entirely')).toBe(false);
    const ce = bodyOf(got!);
    expect(ce).toMatchObject({ specversion: '1.0', type: 'org.wharf.artifact.pushed', source: w.url, subject: `${PROJECT}/app` });
    expect(ce.id).toBe(got!.headers['x-wharf-event-id']);
    expect(ce.data).toMatchObject({ project: PROJECT, repository: `${PROJECT}/app`, tag: '1.0', digest: images[0]!.manifestDigest, pushedBy: 'admin' });
    // Nothing else: one push is one event; the disabled webhook and the other project's stay silent.
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.received.filter(ofType('org.wharf.artifact.pushed'))).toHaveLength(1);
    expect(other.received).toHaveLength(0);
    const log = await deliveries('ci');
    expect(log[0]).toMatchObject({ event: 'org.wharf.artifact.pushed', status: 'succeeded', attempts: 1, responseStatus: 200, eventId: ce.id });
    const audit = await w.api('GET', '/api/v1/audit?action=webhook_create', { auth: admin });
    expect(JSON.stringify(audit.body)).not.toContain(SECRET);
    expect(JSON.stringify(audit.body)).not.toContain('receiver-token');
  });

  it('a tag deleted through the API is one deleted event; the test-send is a ping; format default sends data alone', async () => {
    expect((await w.api('DELETE', `/api/v1/repositories/${PROJECT}%2Fapp/tags/1.0`, { auth: admin })).status).toBe(204);
    const [deleted] = await receiver.waitForRequests(1, ofType('org.wharf.artifact.deleted'));
    expect(bodyOf(deleted!).data).toMatchObject({ repository: `${PROJECT}/app`, tag: '1.0', operation: 'tag', deletedBy: 'admin' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.received.filter(ofType('org.wharf.artifact.deleted'))).toHaveLength(1);

    const ping = await w.api('POST', `/api/v1/projects/${PROJECT}/webhooks/ci/test`, { auth: admin });
    expect(ping.status).toBe(202);
    const [pinged] = await receiver.waitForRequests(1, ofType('org.wharf.webhook.ping'));
    expect(signatureValid(pinged!)).toBe(true);

    expect((await hook('plain', { url: `${other.url}/plain`, events: ['push'], format: 'default' })).status).toBe(201);
    await push(images[1]!, 'web:2');
    const [plain] = await other.waitForRequests(1, (r) => r.url === '/plain');
    expect(plain!.headers['content-type']).toBe('application/json');
    expect(bodyOf(plain!)).toMatchObject({ project: PROJECT, repository: `${PROJECT}/web`, tag: '2', digest: images[1]!.manifestDigest });
    expect(plain!.headers['x-wharf-signature']).toBeUndefined();
  });

  it('receiver down, then up: retried until it arrives; failing answers keep one event id; 500s until the tries run out, then a redelivery', async () => {
    await receiver.stop();
    await push(images[2]!, 'app:down');
    const pending = await waitFor(async () => (await deliveries('ci')).find((d) => d.status === 'pending' && d.attempts >= 2), 20_000, 'retried while down');
    expect(pending.error).toMatch(/ECONNREFUSED/);
    receiver.status = 500;
    await receiver.start();
    // Two failing answers, then success: every attempt carries the same event id and body.
    const failing = await receiver.waitForRequests(2, (r) => ofType('org.wharf.artifact.pushed')(r) && bodyOf(r).data.tag === 'down');
    receiver.status = 200;
    const all = await receiver.waitForRequests(3, (r) => ofType('org.wharf.artifact.pushed')(r) && bodyOf(r).data.tag === 'down');
    expect(new Set(all.map((r) => r.headers['x-wharf-event-id'])).size).toBe(1);
    expect(new Set(all.map((r) => r.body)).size).toBe(1);
    expect(failing.length).toBeGreaterThanOrEqual(2);
    const done = await waitFor(async () => (await deliveries('ci')).find((d) => d.id === pending.id && d.status === 'succeeded'), 20_000, 'delivered');
    expect(done.attempts).toBeGreaterThan(2);

    // Tries used up: failed with the answer's status; a redelivery sends the same event again.
    expect((await w.api('PATCH', `/api/v1/projects/${PROJECT}/webhooks/ci`, { auth: admin, body: { maxAttempts: 2 } })).status).toBe(200);
    receiver.status = 503;
    await w.api('POST', `/api/v1/projects/${PROJECT}/webhooks/ci/test`, { auth: admin });
    const failed = await waitFor(async () => (await deliveries('ci')).find((d) => d.event === 'org.wharf.webhook.ping' && d.status === 'failed'), 20_000, 'failed');
    expect(failed).toMatchObject({ attempts: 2, responseStatus: 503 });
    receiver.status = 200;
    expect((await w.api('POST', `/api/v1/projects/${PROJECT}/webhooks/ci/deliveries/${failed.id}/redeliver`, { auth: admin })).status).toBe(202);
    const again = await waitFor(async () => (await deliveries('ci')).find((d) => d.id === failed.id && d.status === 'succeeded'), 20_000, 'redelivered');
    expect(again.eventId).toBe(failed.eventId);
    const pings = receiver.received.filter((r) => r.headers['x-wharf-event-id'] === failed.eventId);
    expect(pings.map((r) => r.status)).toEqual([503, 503, 200]);
    // A 404 is not tried again.
    receiver.status = 404;
    await w.api('POST', `/api/v1/projects/${PROJECT}/webhooks/ci/test`, { auth: admin });
    const notFound = await waitFor(async () => (await deliveries('ci')).find((d) => d.status === 'failed' && d.responseStatus === 404), 20_000, '404 failed');
    expect(notFound.attempts).toBe(1);
    receiver.status = 200;
  }, 60_000);

  it('pulls are counted per repository and digest over a closed window: one pulled event with the count', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await skopeoCopy(`docker://${w.registry}/${PROJECT}/web:2`, `oci:${path.join(work, `pulled-${i}`)}:v`, { srcCreds: admin });
      expect(r.code, r.stderr).toBe(0);
    }
    // The window closes a minute and a little after its end; the dispatcher is asked as if that time had come.
    const deps = w.wharf.deps;
    await waitFor(async () => (await w.api('GET', `/api/v1/audit?action=pull&repository=${PROJECT}%2Fweb`, { auth: admin })).body.items?.length > 0, 10_000, 'pull audited');
    const later = new WebhookDispatcher({ ...deps, clock: { now: () => Date.now() + 3 * 60_000 } } as typeof deps);
    await later.dispatchPulls(10);
    const [pulled] = await receiver.waitForRequests(1, ofType('org.wharf.artifact.pulled'));
    const data = bodyOf(pulled!).data;
    expect(data).toMatchObject({ project: PROJECT, repository: `${PROJECT}/web`, digest: images[1]!.manifestDigest, count: 3, tags: ['2'] });
    expect(signatureValid(pulled!)).toBe(true);
    // The window is not sent twice.
    await later.dispatchPulls(10);
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.received.filter(ofType('org.wharf.artifact.pulled'))).toHaveLength(1);
  }, 60_000);
});
