import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifests, projectActivity, projects } from '../support/tables';
import { skopeoCopy, skopeoInspect } from '../support/clients';
import { buildArtifact, buildImage, buildIndex, MEDIA_TYPES, type BuiltImage, type BuiltIndex } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/** An image's details read from the real registry, its accessories, and the project's storage page. */

const PASSWORD = 'details-password-1';
const LONG = 'x'.repeat(20_000);
let w: TestWharf;
let work: string;
let image: BuiltImage;
let index: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'wharf-details-'));
  [w, image, index] = await Promise.all([
    startTestWharf(),
    buildImage(path.join(work, 'img'), {
      tag: 'v1',
      layers: 2,
      config: {
        Env: ['PATH=/usr/bin', 'MODE=prod', `LONG=${LONG}`],
        Entrypoint: ['/app/server'],
        Cmd: ['--port', '8080'],
        Labels: { 'org.opencontainers.image.source': 'https://example.com/app', team: 'core' },
        ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
      },
      history: [
        { created: '2024-05-01T10:00:00Z', created_by: 'COPY app /app' },
        { created: '2024-05-01T10:00:01Z', created_by: 'ENV MODE=prod', empty_layer: true },
        { created: '2024-05-01T10:00:02Z', created_by: 'RUN make' },
      ],
    }),
    buildIndex(path.join(work, 'idx'), { tag: 'multi', layers: 1 }),
  ]);
  await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'stranger', password: PASSWORD } });
  expect((await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'team' } })).status).toBe(201);
  await push(`oci:${image.dir}:v1`, 'team/app:v1');
  await push(`oci:${image.dir}:v1`, 'team/app:stable');
  await push(`oci:${index.dir}:multi`, 'team/multi:latest');
});

afterAll(async () => {
  await w?.stop();
  await rm(work, { recursive: true, force: true });
});

async function push(src: string, ref: string) {
  const r = await skopeoCopy(src, `docker://${w.registry}/${ref}`, { destCreds: admin, extraArgs: ['--preserve-digests'] });
  expect(r.code, r.stderr).toBe(0);
}

const details = (repo: string, digest: string, auth: string | undefined = admin) =>
  w.api('GET', `/api/v1/repositories/${encodeURIComponent(repo)}/manifests/${digest}`, auth ? { auth } : {});

const tagNames = async (repo: string, query = '') =>
  ((await w.api('GET', `/api/v1/repositories/${encodeURIComponent(repo)}/tags${query}`, { auth: admin })).body as { items: { name: string }[] }).items
    .map((t) => t.name)
    .sort();

describe('image details', () => {
  it('answers the config, layers, history, platform and tags of an image as pushed', async () => {
    await waitFor(async () => (await details('team/app', image.manifestDigest)).body?.tags?.length === 2, 20_000, 'tags known');
    const r = await details('team/app', image.manifestDigest);
    expect(r.status).toBe(200);
    expect(r.body.digest).toBe(image.manifestDigest);
    expect(r.body.mediaType).toBe(MEDIA_TYPES.manifest);
    expect(r.body.tags).toEqual(['stable', 'v1']);
    expect(r.body.platforms).toEqual([{ os: 'linux', architecture: 'amd64' }]);
    const c = r.body.config;
    expect(c.os).toBe('linux');
    expect(c.architecture).toBe('amd64');
    expect(c.entrypoint).toEqual(['/app/server']);
    expect(c.cmd).toEqual(['--port', '8080']);
    expect(c.env.slice(0, 2)).toEqual(['PATH=/usr/bin', 'MODE=prod']);
    // A huge value is cut, not refused.
    expect(c.env[2].startsWith('LONG=xxx')).toBe(true);
    expect(c.env[2].length).toBe(8192);
    expect(c.labels).toEqual({ 'org.opencontainers.image.source': 'https://example.com/app', team: 'core' });
    expect(c.exposedPorts.sort()).toEqual(['8080/tcp', '9090/udp']);
    expect(r.body.layers.map((l: { digest: string }) => l.digest)).toEqual(image.layerDigests);
    expect(r.body.layers.every((l: { size: number; mediaType: string }) => l.size > 0 && l.mediaType === MEDIA_TYPES.layer)).toBe(true);
    expect(r.body.history).toEqual([
      { created: '2024-05-01T10:00:00Z', createdBy: 'COPY app /app', emptyLayer: false },
      { created: '2024-05-01T10:00:01Z', createdBy: 'ENV MODE=prod', emptyLayer: true },
      { created: '2024-05-01T10:00:02Z', createdBy: 'RUN make', emptyLayer: false },
    ]);
    expect(r.body.size).toBeGreaterThan(r.body.layers[0].size + r.body.layers[1].size);
    expect(r.body.children).toEqual([]);
    expect(r.body.accessories).toEqual([]);
  });

  it('answers the children and platforms of an index', async () => {
    const r = await details('team/multi', index.indexDigest);
    expect(r.status).toBe(200);
    expect(r.body.config).toBeNull();
    expect(r.body.children.map((c: { digest: string }) => c.digest)).toEqual(index.childDigests);
    expect(r.body.platforms).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    const child = await details('team/multi', index.childDigests[1]!);
    expect(child.body.platforms).toEqual([{ os: 'linux', architecture: 'arm64' }]);
  });

  it('hides the image from those who cannot see the repository; refuses a malformed digest; 404 for an unknown one', async () => {
    expect((await details('team/app', image.manifestDigest, `stranger:${PASSWORD}`)).status).toBe(404);
    expect((await details('team/app', image.manifestDigest, '')).status).toBe(404);
    expect((await details('team/app', 'sha256:xyz')).status).toBe(400);
    expect((await details('team/app', `sha256:${'0'.repeat(64)}`)).status).toBe(404);
    expect((await details('team/nothing', image.manifestDigest)).status).toBe(404);
  });

  it('answers a manifest whose config is not JSON without failing', async () => {
    const odd = await buildArtifact(path.join(work, 'odd'), {
      tag: 'odd',
      configMediaType: 'application/octet-stream',
      config: Buffer.from('not json at all {'),
      layerMediaType: 'application/octet-stream',
      layer: Buffer.from('payload'),
    });
    await push(`oci:${odd.dir}:odd`, 'team/app:odd');
    const r = await details('team/app', odd.manifestDigest);
    expect(r.status).toBe(200);
    expect(r.body.config).toBeNull();
    expect(r.body.layers).toHaveLength(1);
    expect(r.body.history).toEqual([]);
  });
});

describe('accessories', () => {
  const hex = () => image.manifestDigest.slice('sha256:'.length);
  let sig: { dir: string; manifestDigest: string };
  let sbom: { dir: string; manifestDigest: string };
  let report: { dir: string; manifestDigest: string };

  it('lists signatures, SBOMs and OCI 1.1 referrers under their image and leaves accessory tags out of the tag list', async () => {
    sig = await buildArtifact(path.join(work, 'sig'), {
      tag: 'sig',
      configMediaType: MEDIA_TYPES.config,
      config: Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } })),
      layerMediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      layer: Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': image.manifestDigest } } })),
      annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ' },
    });
    sbom = await buildArtifact(path.join(work, 'sbom'), { tag: 'sbom', layerMediaType: 'text/spdx+json', layer: Buffer.from('{"spdxVersion":"SPDX-2.3"}') });
    report = await buildArtifact(path.join(work, 'report'), {
      tag: 'report',
      artifactType: 'application/vnd.example.report.v1+json',
      layerMediaType: 'application/vnd.example.report.v1+json',
      layer: Buffer.from('{"ok":true}'),
      subject: { mediaType: MEDIA_TYPES.manifest, digest: image.manifestDigest, size: 1 },
    });
    await push(`oci:${sig.dir}:sig`, `team/app:sha256-${hex()}.sig`);
    await push(`oci:${sbom.dir}:sbom`, `team/app:sha256-${hex()}.sbom`);
    await push(`oci:${report.dir}:report`, 'team/app:report-1');
    await waitFor(async () => (await details('team/app', image.manifestDigest)).body?.accessories?.length === 3, 20_000, 'accessories known');
    const r = await details('team/app', image.manifestDigest);
    expect(r.body.accessories).toEqual([
      { kind: 'sbom', tag: `sha256-${hex()}.sbom`, digest: sbom.manifestDigest },
      { kind: 'signature', tag: `sha256-${hex()}.sig`, digest: sig.manifestDigest },
      { kind: 'other', tag: 'report-1', digest: report.manifestDigest },
    ]);
    expect(await tagNames('team/app')).toEqual(['odd', 'report-1', 'stable', 'v1']);
    const listed = await w.api('GET', '/api/v1/repositories/team%2Fapp/tags', { auth: admin });
    expect(listed.body.total).toBe(4);
    expect(await tagNames('team/app', '?accessories=true')).toEqual(['odd', 'report-1', `sha256-${hex()}.sbom`, `sha256-${hex()}.sig`, 'stable', 'v1']);
    expect((await w.api('GET', '/api/v1/repositories/team%2Fapp/tags?accessories=maybe', { auth: admin })).status).toBe(400);
  });

  it('the project storage page shows usage, the largest repositories and a chart of pushes and pulls', async () => {
    // A pull (GET of the manifest) counts for today.
    expect((await skopeoInspect(`docker://${w.registry}/team/app:v1`, admin, { raw: true })).code).toBe(0);
    const db = w.wharf.deps.db;
    const team = (await db.select().from(projects).where(eq(projects.name, 'team')))[0]!;
    await waitFor(async () => {
      const rows = await db.select().from(projectActivity).where(eq(projectActivity.projectId, team.id));
      return rows.length === 1 && rows[0]!.pushes >= 9 && rows[0]!.pulls >= 1;
    }, 20_000, 'activity counted');
    const [row] = await db.select().from(projectActivity).where(eq(projectActivity.projectId, team.id));
    expect(row!.day).toBe(new Date().toISOString().slice(0, 10));
    const res = await fetch(`${w.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: admin.split(':')[1] }) });
    const cookie = `wharf_lang=en; ${(res.headers.get('set-cookie') ?? '').split(';')[0]!}`;
    const page = await fetch(`${w.url}/projects/team/storage`, { headers: { cookie } });
    const html = await page.text();
    expect(page.status, html.slice(0, 500)).toBe(200);
    expect(html).toContain('<svg');
    expect(html).toContain('team/app');
    expect(html).toContain('team/multi');
    expect(html).toContain(`${row!.day}: ${row!.pushes} pushes, ${row!.pulls} pulls`);
    const stranger = await fetch(`${w.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'stranger', password: PASSWORD }) });
    const strangerCookie = `wharf_lang=en; ${(stranger.headers.get('set-cookie') ?? '').split(';')[0]!}`;
    expect((await fetch(`${w.url}/projects/team/storage`, { headers: { cookie: strangerCookie } })).status).toBe(404);
    // A public project's usage and activity are for its members, as the quota API says: a visitor sees 403.
    expect((await w.api('PATCH', '/api/v1/projects/team', { auth: admin, body: { public: true } })).status).toBe(200);
    try {
      expect((await fetch(`${w.url}/projects/team/storage`, { headers: { cookie: strangerCookie } })).status).toBe(403);
    } finally {
      expect((await w.api('PATCH', '/api/v1/projects/team', { auth: admin, body: { public: false } })).status).toBe(200);
    }
    // The image page renders its parts.
    const imagePage = await fetch(`${w.url}/repositories/team/app/manifests/${image.manifestDigest}`, { headers: { cookie } });
    const imageHtml = await imagePage.text();
    expect(imagePage.status, imageHtml.slice(0, 500)).toBe(200);
    expect(imageHtml).toContain('COPY app /app');
    expect(imageHtml).toContain('MODE=prod');
    expect(imageHtml).toContain(sig.manifestDigest);
    expect(imageHtml).not.toContain(LONG);
  });

  it('deleting the image deletes its accessories, at the registry and in Wharf; a referrer with a tag of its own stays', async () => {
    const del = await w.api('DELETE', `/api/v1/repositories/team%2Fapp/manifests/${image.manifestDigest}`, { auth: admin });
    expect(del.status).toBe(204);
    for (const d of [sig.manifestDigest, sbom.manifestDigest]) {
      expect((await skopeoInspect(`docker://${w.registry}/team/app@${d}`, admin, { raw: true })).code).not.toBe(0);
      expect(await w.wharf.deps.db.select().from(manifests).where(eq(manifests.digest, d))).toEqual([]);
    }
    expect((await skopeoInspect(`docker://${w.registry}/team/app:report-1`, admin, { raw: true })).code).toBe(0);
    expect(await tagNames('team/app', '?accessories=true')).toEqual(['odd', 'report-1']);
  });

  it('deleting the last tag of an image deletes the image and its accessories', async () => {
    const solo = await buildImage(path.join(work, 'solo'), { tag: 'solo', layers: 1 });
    const soloSig = await buildArtifact(path.join(work, 'solo-sig'), { tag: 'sig', layerMediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', layer: Buffer.from('{}') });
    await push(`oci:${solo.dir}:solo`, 'team/app:solo');
    await push(`oci:${soloSig.dir}:sig`, `team/app:sha256-${solo.manifestDigest.slice(7)}.sig`);
    await waitFor(async () => (await details('team/app', solo.manifestDigest)).body?.accessories?.length === 1, 20_000, 'signature known');
    expect((await w.api('DELETE', '/api/v1/repositories/team%2Fapp/tags/solo', { auth: admin })).status).toBe(204);
    expect((await skopeoInspect(`docker://${w.registry}/team/app@${soloSig.manifestDigest}`, admin, { raw: true })).code).not.toBe(0);
    expect(await tagNames('team/app', '?accessories=true')).toEqual(['odd', 'report-1']);
  });
});
