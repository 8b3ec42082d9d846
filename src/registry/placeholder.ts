import { createHash, randomBytes } from 'node:crypto';
import { OCI_MANIFEST } from './media-types';

/** What the placeholder delete needs of a registry client: Wharf's own (RegistryClient) or a replication target (RemoteRegistry). */
export interface PlaceholderWriter {
  uploadBlob(repository: string, data: Buffer, digest: string): Promise<void>;
  putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string>;
  deleteManifest(repository: string, reference: string): Promise<{ status: number; code?: string }>;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * Removes one tag on a registry that cannot delete by tag (Distribution 2.8): the tag is pointed at
 * a tiny manifest of its own, which is then deleted by digest and takes only that tag with it.
 * Returns the registry's answer to that delete.
 */
export async function untagByPlaceholder(registry: PlaceholderWriter, repository: string, tag: string): Promise<{ digest: string; status: number; code?: string }> {
  const config = Buffer.from(JSON.stringify({ 'wharf.placeholder': randomBytes(16).toString('hex') }));
  const configDigest = sha256(config);
  await registry.uploadBlob(repository, config, configDigest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [],
      annotations: { 'org.opencontainers.image.description': 'Wharf placeholder for deleting one tag' },
    }),
  );
  const digest = (await registry.putManifest(repository, tag, OCI_MANIFEST, manifest)) || sha256(manifest);
  return { digest, ...(await registry.deleteManifest(repository, digest)) };
}
