export const REDACTED = '[redacted]';

// Go prints header maps as `map[Authorization:[Bearer …]]`; JSON and HTTP dumps use `"Authorization":"…"` or `Authorization: …`.
const AUTHORIZATION_HEADER = /(authorization["']?\s*[:=]\s*\[?\s*["']?)[^\]"'\r\n,}]*/gi;
const CREDENTIAL_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * Removes credentials from text another program printed (the registry's output): Authorization
 * headers, Bearer and Basic values, JWTs, and every occurrence of the given secrets, plain or
 * URL-encoded. Everything Wharf logs or keeps of the registry's output goes through here.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text.replace(AUTHORIZATION_HEADER, `$1${REDACTED}`).replace(CREDENTIAL_SCHEME, `$1 ${REDACTED}`).replace(JWT, REDACTED);
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
  }
  // Longest first, so a secret that contains another is removed whole.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join(REDACTED);
  return out;
}

/**
 * A redactor bound to the secrets Wharf knows; built once per instance and passed where registry
 * output is handled. `rotating` gives secrets that change while the instance runs (a staged one).
 */
export function secretRedactor(secrets: readonly string[], rotating: () => readonly (string | null)[] = () => []): (text: string) => string {
  const known = secrets.filter(Boolean);
  return (text) => redactSecrets(text, [...known, ...rotating().filter((s): s is string => !!s)]);
}
