import { run, type ExecResult } from './exec.js';

export type { ExecResult } from './exec.js';

const TLS_OFF = '--tls-verify=false';

export interface SkopeoCommonOptions {
  /** Kill skopeo after this many ms (default 60 000). */
  timeoutMs?: number | undefined;
  /** Extra args inserted before the image reference(s). */
  extraArgs?: string[] | undefined;
}

export interface SkopeoCopyOptions extends SkopeoCommonOptions {
  /** "user:password" for the source registry. */
  srcCreds?: string | undefined;
  /** "user:password" for the destination registry. */
  destCreds?: string | undefined;
  /** Pass --all (copy every image of an index). Default true. */
  all?: boolean | undefined;
}

export interface SkopeoInspectOptions extends SkopeoCommonOptions {
  /** `--raw`: print the manifest bytes exactly as served. */
  raw?: boolean | undefined;
  /** `--config`: print the image config instead (combine with raw for raw config). */
  config?: boolean | undefined;
}

const isDocker = (ref: string): boolean => ref.startsWith('docker://');

function credArgs(flagPrefix: string, ref: string, creds: string | undefined): string[] {
  if (creds !== undefined) return [`--${flagPrefix}creds`, creds];
  if (isDocker(ref)) return [`--${flagPrefix}no-creds`];
  return [];
}

/**
 * `skopeo copy [--all] --src-tls-verify=false --dest-tls-verify=false --retry-times 0 SRC DEST`.
 * For docker:// refs without creds, --src-no-creds / --dest-no-creds is passed (anonymous).
 */
export function skopeoCopy(src: string, dest: string, opts: SkopeoCopyOptions = {}): Promise<ExecResult> {
  const args = ['copy'];
  if (opts.all ?? true) args.push('--all');
  args.push('--src-tls-verify=false', '--dest-tls-verify=false', '--retry-times', '0');
  args.push(...credArgs('src-', src, opts.srcCreds), ...credArgs('dest-', dest, opts.destCreds));
  args.push(...(opts.extraArgs ?? []), src, dest);
  return run('skopeo', args, { timeoutMs: opts.timeoutMs });
}

/** `skopeo inspect [--raw] [--config] --tls-verify=false REF`. */
export function skopeoInspect(ref: string, creds?: string, opts: SkopeoInspectOptions = {}): Promise<ExecResult> {
  const args = ['inspect', TLS_OFF, '--retry-times', '0'];
  if (opts.raw) args.push('--raw');
  if (opts.config) args.push('--config');
  args.push(...credArgs('', ref, creds), ...(opts.extraArgs ?? []), ref);
  return run('skopeo', args, { timeoutMs: opts.timeoutMs });
}

/** `skopeo delete --tls-verify=false REF` (REF should be docker://host/repo:tag or @digest). */
export function skopeoDelete(ref: string, creds?: string, opts: SkopeoCommonOptions = {}): Promise<ExecResult> {
  const args = ['delete', TLS_OFF, '--retry-times', '0', ...credArgs('', ref, creds), ...(opts.extraArgs ?? []), ref];
  return run('skopeo', args, { timeoutMs: opts.timeoutMs });
}

/**
 * `skopeo list-tags --tls-verify=false docker://host/repo`. On success stdout is
 * JSON `{ "Repository": "...", "Tags": [...] }`; see parseTags().
 */
export function skopeoListTags(repoRef: string, creds?: string, opts: SkopeoCommonOptions = {}): Promise<ExecResult> {
  const args = ['list-tags', TLS_OFF, '--retry-times', '0', ...credArgs('', repoRef, creds), ...(opts.extraArgs ?? []), repoRef];
  return run('skopeo', args, { timeoutMs: opts.timeoutMs });
}

/** Parses the stdout of skopeoListTags into the tag list. */
export function parseTags(stdout: string): string[] {
  const parsed = JSON.parse(stdout) as { Tags?: string[] | null };
  return parsed.Tags ?? [];
}
