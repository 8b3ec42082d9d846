import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../src/events/envelope';

/** Distribution v3's notification shapes (no v3 binary here): OCI-descriptor targets, tag deletes. */

const digest = `sha256:${'a'.repeat(64)}`;
const v3Push = {
  id: '4d0b2d4e-6a5e-4b61-9d76-3c0d8a1f0e11',
  timestamp: '2024-05-01T10:00:00.123456789Z',
  action: 'push',
  target: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: 1234,
    urls: ['https://mirror.example.org/blob'],
    annotations: { 'org.opencontainers.image.created': '2024-05-01T10:00:00Z', nested: { odd: true } },
    data: Buffer.from('{}').toString('base64'),
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    length: 1234,
    repository: 'team/app',
    url: 'https://registry.example.org/v2/team/app/manifests/' + digest,
    tag: 'v1',
    references: [{ mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 2 }],
  },
  request: { id: 'r1', addr: '10.0.0.1:5000', host: 'registry', method: 'PUT', useragent: 'oras/1.2' },
  actor: { name: 'pusher' },
  source: { addr: 'registry:5000', instanceID: 'abc' },
};

describe('v3 envelopes', () => {
  it('an OCI-descriptor target with artifactType, annotations, urls, data and platform is a push', () => {
    const parsed = parseEnvelope({ events: [v3Push] });
    expect(parsed.rejected).toEqual([]);
    expect(parsed.ignored).toBe(0);
    expect(parsed.events).toHaveLength(1);
    expect(parsed.events[0]!.target).toMatchObject({ repository: 'team/app', digest, tag: 'v1', mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  });

  it('a tag delete carries repository and tag and no digest: an event for that tag only', () => {
    const parsed = parseEnvelope({
      events: [{ id: 'td1', timestamp: '2024-05-01T10:00:01Z', action: 'delete', target: { repository: 'team/app', tag: 'v1' }, request: { method: 'DELETE' }, actor: { name: 'pusher' } }],
    });
    expect(parsed.rejected).toEqual([]);
    expect(parsed.events[0]!.target).toEqual({ repository: 'team/app', tag: 'v1' });
  });

  it('a sha512 digest and a v3 index with descriptors of its own parse', () => {
    const sha512 = `sha512:${'b'.repeat(128)}`;
    const parsed = parseEnvelope({
      events: [{ ...v3Push, id: 'x2', target: { ...v3Push.target, digest: sha512, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: undefined } }],
    });
    expect(parsed.events.map((e) => e.target.digest)).toEqual([sha512]);
  });

  it('a blob event with an OCI descriptor target is ignored, not rejected', () => {
    const parsed = parseEnvelope({ events: [{ ...v3Push, id: 'b1', target: { ...v3Push.target, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' } }] });
    expect(parsed).toMatchObject({ events: [], rejected: [], ignored: 1 });
  });
});
