/** The manifest media types of the OCI and Docker formats, written once for events, registry calls and tests. */

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker schema 1: old registries still store and report it; Wharf never asks for it. */
export const DOCKER_SCHEMA1_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** The kinds Wharf reads: what its registry calls accept, indexes first. */
export const READABLE_MANIFEST_TYPES = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST] as const;

/** Every manifest kind a registry event may name; any other media type is a blob's. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([...READABLE_MANIFEST_TYPES, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST]);

/** The Accept header of Wharf's manifest requests; the registry answers with the stored kind. */
export const MANIFEST_ACCEPT = READABLE_MANIFEST_TYPES.join(', ');
