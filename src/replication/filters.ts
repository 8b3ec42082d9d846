import picomatch from 'picomatch';

/**
 * A policy's repository and tag globs (API.md "Names and globs"): `*` stays within one path
 * component, `**` spans components, excludes apply after includes, an empty include list means all.
 */
export interface Filters {
  repositories?: string[];
  excludeRepositories?: string[];
  tags?: string[];
  excludeTags?: string[];
}

export const GLOB_MAX = 256;
export const MAX_STAR_RUNS = 2;

// Names never start with a dot, so nothing is hidden from `*`; negation and extglobs are not ours (excludes are their own list).
const MATCH_OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, noextglob: true };

/** Characters of repository names (lowercase, `/`), of tags (any case, `_`) and the glob syntax we accept (picomatch negates a class with `^`, not `!`). */
const GLOB_CHARS = /^[A-Za-z0-9._\-/*?[\]{},^]+$/;
const REPOSITORY_GLOB_CHARS = /^[a-z0-9._\-/*?[\]{},^]+$/;
const TAG_GLOB_CHARS = /^[A-Za-z0-9._\-*?[\]{},^]+$/;

/** Whether a string uses glob syntax (else it is a literal name). */
export const isGlob = (pattern: string): boolean => /[*?[\]{}]/.test(pattern);

/** Unbalanced `[`/`{`, or `^` anywhere but first in a bracket class: the reason, else null. */
function bracketProblem(glob: string): string | null {
  let bracketAt = -1;
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (bracketAt >= 0) {
      if (ch === ']' && i > bracketAt + 1 && !(i === bracketAt + 2 && glob[bracketAt + 1] === '^')) bracketAt = -1;
      else if (ch === '^' && i !== bracketAt + 1) return '"^" only negates a bracket class, first inside it';
      else if ('[{}'.includes(ch)) return `"${ch}" inside a bracket class`;
      continue;
    }
    if (ch === '[') bracketAt = i;
    else if (ch === ']') return 'unbalanced "]"';
    else if (ch === '{') braces++;
    else if (ch === '}') {
      if (--braces < 0) return 'unbalanced "}"';
    } else if (ch === ',' && braces === 0) return '"," outside braces';
    else if (ch === '^') return '"^" only negates a bracket class';
  }
  if (bracketAt >= 0) return 'unbalanced "["';
  if (braces > 0) return 'unbalanced "{"';
  return null;
}

/**
 * Null when `glob` is a glob a policy may hold, else the reason. `kind` narrows the characters to
 * those of repository names (lowercase, `/`) or of tags (no `/`); without it either is accepted.
 */
export function globProblem(glob: string, kind?: 'repository' | 'tag'): string | null {
  if (glob.length === 0) return 'empty';
  if (glob.length > GLOB_MAX) return `longer than ${GLOB_MAX} characters`;
  const chars = kind === 'repository' ? REPOSITORY_GLOB_CHARS : kind === 'tag' ? TAG_GLOB_CHARS : GLOB_CHARS;
  if (!chars.test(glob)) {
    const bad = [...glob].find((ch) => !chars.test(ch));
    return bad === undefined ? 'characters outside names and glob syntax' : `character ${JSON.stringify(bad)} is not in names or glob syntax`;
  }
  // picomatch compiles to a regular expression that backtracks: three `*` runs against a long
  // name already take tens of milliseconds, five take seconds, and matching runs on the token
  // endpoint and at ingest. Two runs stay under a few milliseconds at the longest names.
  if ((glob.match(/\*+/g) ?? []).length > MAX_STAR_RUNS) return `more than ${MAX_STAR_RUNS} "*" wildcards (write "**" or "*" at most twice)`;
  if (glob.startsWith('/')) return 'starts with "/"';
  if (glob.endsWith('/')) return 'ends with "/"';
  const components = glob.split('/');
  if (components.some((c) => c === '')) return 'empty path component';
  if (components.some((c) => c === '..' || c === '.')) return '"." or ".." path component';
  return bracketProblem(glob);
}

/** A glob list as one matcher; an empty or missing list matches `whenEmpty`. */
function matcherOf(globs: string[] | undefined, whenEmpty: boolean): (name: string) => boolean {
  if (!globs?.length) return () => whenEmpty;
  return picomatch(globs, MATCH_OPTIONS);
}

/** A policy's filters compiled once: what planning calls per repository and per tag. */
export interface FilterMatchers {
  repository(relativeName: string): boolean;
  tag(tag: string): boolean;
}

export function compileFilters(filters: Filters): FilterMatchers {
  const includeRepository = matcherOf(filters.repositories, true);
  const excludeRepository = matcherOf(filters.excludeRepositories, false);
  const includeTag = matcherOf(filters.tags, true);
  const excludeTag = matcherOf(filters.excludeTags, false);
  return {
    repository: (name) => includeRepository(name) && !excludeRepository(name),
    tag: (tag) => includeTag(tag) && !excludeTag(tag),
  };
}

/** Whether a repository (its name relative to its project for push, the remote name for pull) passes the filters. */
export const repositoryMatches = (filters: Filters, relativeName: string): boolean => compileFilters(filters).repository(relativeName);

export const tagMatches = (filters: Filters, tag: string): boolean => compileFilters(filters).tag(tag);
