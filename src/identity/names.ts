import type { ErrorKey } from '../errors';

/** The longest user name: what an HTTP Basic user field and the API's path parameters accept. */
export const MAX_USERNAME_LENGTH = 255;

/** Names the audit log uses for actors that are not users (the CLI acts as `(cli)`); no account may take them. */
export const RESERVED_USERNAMES = new Set(['anonymous', 'system', '(cli)']);

/** The prefix of robot accounts; a user name never starts with it. */
export const ROBOT_PREFIX = 'robot$';

/** The prefix of Wharf's own token subjects (`wharf$internal`, `wharf$replication`): a user taking one would pass as Wharf in events and audit. */
export const WHARF_SUBJECT_PREFIX = 'wharf$';

// C0 and C1 controls, DEL, the line and paragraph separators, and format characters (zero-width
// spaces, bidirectional overrides) that would make one name look like another.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/u;

/**
 * A user name as every lookup and the login throttle key it: compatibility-normalized (full-width
 * letters are letters), trimmed and case-folded, so `Alice`, `ＡＬＩＣＥ` and ` alice ` are one name.
 */
export const canonicalName = (name: string): string => name.normalize('NFKC').trim().toLowerCase();

/**
 * Why a name cannot be a user's, or null. Any name HTTP Basic can carry is accepted (a directory
 * spells `o'brien` or `Zoë Ng` as it likes): no colon, no control characters, no leading or
 * trailing space, no invisible format characters, 1 to 255 characters; robot names and reserved
 * names stay refused.
 */
export function usernameProblem(name: string): ErrorKey | null {
  if (name.length === 0 || name.length > MAX_USERNAME_LENGTH) return 'user.badName';
  if (name.includes(':') || CONTROL_RE.test(name) || /^\s|\s$/.test(name)) return 'user.badName';
  // `.` and `..` cannot be a path segment of /api/v1/users/{username}.
  if (name === '.' || name === '..') return 'user.badName';
  const key = canonicalName(name);
  if (key.startsWith(ROBOT_PREFIX) || key.startsWith(WHARF_SUBJECT_PREFIX) || RESERVED_USERNAMES.has(key)) return 'user.reserved';
  return null;
}

export const isValidUsername = (name: string): boolean => usernameProblem(name) === null;
