/**
 * What `registry garbage-collect` (Distribution 2.8) prints, read back. Its mark phase names each
 * repository and what it keeps (`<repo>: marking manifest sha256:…`, `<repo>: marking blob sha256:…`);
 * the sweep says `N blobs marked, M blobs and K manifests eligible for deletion`, then one
 * `blob eligible for deletion: sha256:…` per blob (and `manifest eligible for deletion: …` per
 * manifest with --delete-untagged, which Wharf never passes), and on a real run a
 * `Deleting blob: /docker/registry/v2/blobs/sha256/xx/<hex>` log line for each blob it removed.
 */
export interface GcOutput {
  repositories: string[];
  markedManifests: number;
  markedBlobs: number;
  /** From the summary line; null when the output has none (the run failed before the sweep). */
  summary: { marked: number; blobsEligible: number; manifestsEligible: number } | null;
  /** Digests of the blobs the sweep names, each once, in order. */
  eligibleBlobs: string[];
  eligibleManifests: string[];
  /** Digests of the blobs a real run says it deleted. */
  deletedBlobs: string[];
}

const DIGEST = 'sha256:[0-9a-f]{64}';
const MARK = new RegExp(`^(\\S+): marking (manifest|blob) (${DIGEST})\\s*$`);
const SUMMARY = /^(\d+) blobs marked, (\d+) blobs(?: and (\d+) manifests)? eligible for deletion\s*$/;
const ELIGIBLE_BLOB = new RegExp(`^blob eligible for deletion: (${DIGEST})\\s*$`);
const ELIGIBLE_MANIFEST = new RegExp(`manifest eligible for deletion: (?:\\S+@)?(${DIGEST})`);
const DELETING_BLOB = /Deleting blob: \S*\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})/;
/** A repository line of the mark phase: a bare repository name. */
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

export function parseGcOutput(text: string): GcOutput {
  const out: GcOutput = { repositories: [], markedManifests: 0, markedBlobs: 0, summary: null, eligibleBlobs: [], eligibleManifests: [], deletedBlobs: [] };
  const eligible = new Set<string>();
  const manifests = new Set<string>();
  const deleted = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if ((m = MARK.exec(line))) {
      if (m[2] === 'manifest') out.markedManifests++;
      else out.markedBlobs++;
    } else if ((m = SUMMARY.exec(line))) {
      out.summary = { marked: Number(m[1]), blobsEligible: Number(m[2]), manifestsEligible: Number(m[3] ?? 0) };
    } else if ((m = ELIGIBLE_BLOB.exec(line))) {
      eligible.add(m[1]!);
    } else if ((m = ELIGIBLE_MANIFEST.exec(line))) {
      manifests.add(m[1]!);
    } else if ((m = DELETING_BLOB.exec(line))) {
      deleted.add(`sha256:${m[1]!}`);
    } else if (REPOSITORY.test(line)) {
      out.repositories.push(line);
    }
  }
  out.eligibleBlobs = [...eligible];
  out.eligibleManifests = [...manifests];
  out.deletedBlobs = [...deleted];
  return out;
}

/** An empty registry (no repository written yet) makes 2.8's GC fail on the missing directory: nothing to collect. */
export const nothingToCollect = (text: string): boolean => /failed to mark: filesystem: Path not found: \S*\/docker\/registry\/v2\/repositories/.test(text);

/** The last `max` bytes of a log, cut at a line start, with a note that the head was dropped. */
export function boundedLog(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const tail = Buffer.from(text).subarray(-max).toString('utf8');
  const cut = tail.indexOf('\n');
  return `[… earlier output dropped]\n${cut >= 0 ? tail.slice(cut + 1) : tail}`;
}
