import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { renderRegistryConfig, templatePath } from '../../src/registry/config';
import { boundedLog, nothingToCollect, parseGcOutput } from '../../src/storage/gc-output';

/** Output of `docker-registry garbage-collect` 2.8.2 on a registry with one deleted image . */
const DRY = `
p/a
p/a: marking manifest sha256:568be93106471e00eb30953a31fb7e196f850cd2b5dcff96259b8c685a48e2a8 
p/a: marking blob sha256:b87a0a1b94a107980d2cc5d9d7584c818ae9161de277d6d2fbcb8102c9bdf057
p/a: marking blob sha256:8ce0d12bf55edb4d7f9349422f7604898df2d2eb31c8d9af8f8c796b533d82ca
p/a: marking blob sha256:88e81da95b68d15fee359f61a903a9c4ff67354acd27a135ba48cdf73f12a466
p/b
p/m
p/m: marking manifest sha256:3997375e6d8324b219f3bdc64fc3a799ae196ebcdba1872a259d1e847fd3da3c 
p/m: marking blob sha256:c4e606764f2026c1041063c5c1ce48b0e06e8ed32308665dfb929210920539ae
p/m: marking blob sha256:f8aa12cf79c5f390ba5b756259f331b81a3a320e01c2a0059461c47fef9963e7
p/m: marking manifest sha256:c4e606764f2026c1041063c5c1ce48b0e06e8ed32308665dfb929210920539ae 
p/m: marking blob sha256:91567754e10dbbc81373d0f31b6cb9e6ad0392d6895feb2a2ea344de855ff55f
p/m: marking blob sha256:314c28585d84c19eb26ea8655b0bfd346c4367a0943f61d03d602573fb9804ae
p/m: marking blob sha256:1d7719b5ad3163f02a9dfee8f5749ed24b71b39d0d44fcd9307b63c1e64f7a56
p/m: marking manifest sha256:f8aa12cf79c5f390ba5b756259f331b81a3a320e01c2a0059461c47fef9963e7 
p/m: marking blob sha256:a1be97178c2c0d63afbed43f0a824c2192c79b5c97bd04b67b1f682ce2517524
p/m: marking blob sha256:bc3024e34335c27f8ef303f5a11ab707e8b6af758fec37d56c0e3255b3b4a2ab
p/m: marking blob sha256:bccf090d42348b63ceb52d5fba029ae88b89da909b913c232f8dcb58debe78f2
13 blobs marked, 4 blobs and 0 manifests eligible for deletion

13 blobs marked, 4 blobs and 0 manifests eligible for deletion
blob eligible for deletion: sha256:81dce588d3a775a46d0e531deb19ff4d8293f3b4367450adf0db2f166c552fc7
blob eligible for deletion: sha256:9210f9786d726668041ca5dbaa67d66dc98534cd201989e033408aee465f713c
blob eligible for deletion: sha256:5bf67ba97e1515a8a95e972785d26ffdafe673558af989adbc1e2b7f1b1df5ee
blob eligible for deletion: sha256:6e2946ffcb885f25cc8898c5efa089237a353ab9bfff833b26998e2038667e4d
`;

const REAL = `
p/a
p/b
p/m

13 blobs marked, 4 blobs and 0 manifests eligible for deletion
blob eligible for deletion: sha256:5bf67ba97e1515a8a95e972785d26ffdafe673558af989adbc1e2b7f1b1df5ee
time="2026-12-02T04:31:04.838401645Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/5b/5bf67ba97e1515a8a95e972785d26ffdafe673558af989adbc1e2b7f1b1df5ee" go.version=go1.19.8 instance.id=469dac40-16e9-4674-9a8c-36b3d4e96e2b
blob eligible for deletion: sha256:6e2946ffcb885f25cc8898c5efa089237a353ab9bfff833b26998e2038667e4d
time="2026-12-02T04:31:04.839145231Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/6e/6e2946ffcb885f25cc8898c5efa089237a353ab9bfff833b26998e2038667e4d" go.version=go1.19.8 instance.id=469dac40-16e9-4674-9a8c-36b3d4e96e2b
blob eligible for deletion: sha256:81dce588d3a775a46d0e531deb19ff4d8293f3b4367450adf0db2f166c552fc7
time="2026-12-02T04:31:04.84062355Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/81/81dce588d3a775a46d0e531deb19ff4d8293f3b4367450adf0db2f166c552fc7" go.version=go1.19.8 instance.id=469dac40-16e9-4674-9a8c-36b3d4e96e2b
blob eligible for deletion: sha256:9210f9786d726668041ca5dbaa67d66dc98534cd201989e033408aee465f713c
time="2026-12-02T04:31:04.840944912Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/92/9210f9786d726668041ca5dbaa67d66dc98534cd201989e033408aee465f713c" go.version=go1.19.8 instance.id=469dac40-16e9-4674-9a8c-36b3d4e96e2b
`;

describe('parseGcOutput', () => {
  it('reads the mark phase, the summary and the eligible blobs of a dry run', () => {
    const out = parseGcOutput(DRY);
    expect(out.repositories).toEqual(['p/a', 'p/b', 'p/m']);
    expect(out.markedManifests).toBe(4);
    expect(out.markedBlobs).toBe(11);
    expect(out.summary).toEqual({ marked: 13, blobsEligible: 4, manifestsEligible: 0 });
    expect(out.eligibleBlobs).toHaveLength(4);
    expect(out.eligibleBlobs[0]).toBe('sha256:81dce588d3a775a46d0e531deb19ff4d8293f3b4367450adf0db2f166c552fc7');
    expect(out.deletedBlobs).toEqual([]);
  });

  it('reads the blobs a real run deleted from its log lines', () => {
    const out = parseGcOutput(REAL);
    expect(out.summary?.blobsEligible).toBe(4);
    expect(out.deletedBlobs).toHaveLength(4);
    expect(new Set(out.deletedBlobs)).toEqual(new Set(out.eligibleBlobs));
    expect(out.deletedBlobs).toContain('sha256:5bf67ba97e1515a8a95e972785d26ffdafe673558af989adbc1e2b7f1b1df5ee');
  });

  it('reads manifests eligible for deletion and an older summary without manifests', () => {
    const out = parseGcOutput(`2 blobs marked, 1 blobs eligible for deletion\nmanifest eligible for deletion: p/a@sha256:${'a'.repeat(64)}\n`);
    expect(out.summary).toEqual({ marked: 2, blobsEligible: 1, manifestsEligible: 0 });
    expect(out.eligibleManifests).toEqual([`sha256:${'a'.repeat(64)}`]);
  });

  it('knows the empty registry failure and nothing else as nothing to collect', () => {
    expect(nothingToCollect('failed to garbage collect: failed to mark: filesystem: Path not found: /docker/registry/v2/repositories')).toBe(true);
    expect(nothingToCollect('failed to garbage collect: permission denied')).toBe(false);
  });
});

describe('boundedLog', () => {
  it('keeps the tail, cut at a line', () => {
    const log = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const kept = boundedLog(log, 40);
    expect(kept.startsWith('[… earlier output dropped]\n')).toBe(true);
    expect(kept.endsWith('line 99')).toBe(true);
    expect(kept).not.toContain('line 1\n');
    expect(boundedLog('short', 40)).toBe('short');
  });
});

describe('rendered registry config', () => {
  it('has no blob-descriptor cache, also when the template has one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-gc-config-'));
    try {
      const opts = { certFile: '/x.pem', notificationSecret: 's', httpSecret: 'h' };
      const plain = parseDocument(renderRegistryConfig(resolveConfig({ dataDir: dir }), opts));
      expect(plain.getIn(['storage', 'cache', 'blobdescriptor'])).toBeUndefined();
      expect(plain.getIn(['storage', 'delete', 'enabled'])).toBe(true);
      const own = path.join(dir, 'own.yml');
      writeFileSync(own, `version: 0.1\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /x\n`);
      const rendered = parseDocument(renderRegistryConfig(resolveConfig({ dataDir: dir, registry: { template: own } }), opts));
      expect(rendered.getIn(['storage', 'cache'])).toBeUndefined();
      expect(rendered.getIn(['storage', 'filesystem', 'rootdirectory'])).toBe(path.join(dir, 'registry'));
      expect(templatePath).toMatch(/registry-config\.yml$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
