/** Names shared by the bench server (test/bench/server.ts) and the load generator (test/bench/run.ts). */
import { DOCKER_MANIFEST } from '../../src/registry/media-types';

export const BENCH_ADMIN_PASSWORD = 'bench-admin-password-1';
export const BENCH_USER = 'bench';
export const BENCH_PASSWORD = 'bench-password-1';
/** A directory (LDAP) user, developer of `team` through the group `benchers`. */
export const BENCH_LDAP_USER = 'ldapbench';
export const BENCH_LDAP_PASSWORD = 'ldap-bench-password-1';
/** The token service name of the default configuration. */
export const BENCH_SERVICE = 'wharf-registry';

/** What the bench server prints (one JSON line on stdout) once it is seeded and ready. */
export interface BenchServerReady {
  url: string;
  /** The process that serves requests (for /proc readings). */
  pid: number;
  /** What the registry presents as `Authorization: Bearer …` to the notification endpoint. */
  notificationSecret: string;
}

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The repository and tag the ingest scenarios push to and pull from (project `team`). */
export const INGEST_REPOSITORY = 'team/app';
export const INGEST_TAG = 'latest';
/** The manifest the pull scenarios fetch: pushed once, before them. */
export const INGEST_PULLED_DIGEST = `sha256:${'4d'.repeat(32)}`;

/** A notification envelope as docker-registry 2.8 posts it for a manifest PUT (push) or GET (pull), with every field it fills. */
export function registryEnvelope(e: { id: string; action: 'push' | 'pull'; digest: string; timestamp: string; registryUrl?: string }): string {
  const registry = e.registryUrl ?? '127.0.0.1:5000';
  return JSON.stringify({
    events: [
      {
        id: e.id,
        timestamp: e.timestamp,
        action: e.action,
        target: {
          mediaType: DOCKER_MANIFEST,
          size: 1577,
          digest: e.digest,
          length: 1577,
          repository: INGEST_REPOSITORY,
          url: `http://${registry}/v2/${INGEST_REPOSITORY}/manifests/${e.digest}`,
          tag: INGEST_TAG,
        },
        request: {
          id: '6df24a34-0959-4923-81ca-14f09767db19',
          addr: '127.0.0.1:42961',
          host: registry,
          method: e.action === 'push' ? 'PUT' : 'GET',
          useragent: 'docker/20.10.24+dfsg1 go/go1.19.8 git-commit/5d6db84 kernel/6.1.0-18-amd64 os/linux arch/amd64 UpstreamClient(Docker-Client/20.10.24+dfsg1 \\(linux\\))',
        },
        actor: { name: BENCH_USER },
        source: { addr: 'registry-host:5000', instanceID: 'a53db899-3b4b-4a62-a067-8dd013beaca4' },
      },
    ],
  });
}

/** The project of the list scenarios' registry and its biggest repository (the tag list reads it). */
export const LIST_PROJECT = 'lists';
export const LIST_REPOSITORY = `${LIST_PROJECT}/many`;

/**
 * The list scenarios' registry at `totalTags` tags: the repository LIST_REPOSITORY holds them all,
 * beside one repository of one tag for every ten of them (so the repository list grows too, and its
 * first page, in name order, holds LIST_REPOSITORY with its full count).
 */
export function listShape(totalTags: number): { bigRepositoryTags: number; otherRepositories: number } {
  return { bigRepositoryTags: totalTags, otherRepositories: Math.floor(totalTags / 10) };
}

/** The n-th manifest digest of the seeded big repositories. */
export const seededDigest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;

/** `n` single-platform image manifests of a seeded big repository, digests seededDigest(0 .. n-1). */
export function seededManifests(repositoryId: number, n: number) {
  return Array.from({ length: n }, (_, d) => ({
    repositoryId,
    digest: seededDigest(d),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 10_000_000 + d * 1000,
    platform: JSON.stringify({ os: 'linux', architecture: 'amd64' }),
  }));
}
