/** What is wrong with a PostgreSQL URL, in words that never repeat its password; null when usable. */
export function databaseUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL (expected postgres://user:password@host:5432/database)';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return `expected a postgres:// URL, not ${parsed.protocol}//`;
  if (parsed.hostname === '') return 'no host (expected postgres://user:password@host:5432/database)';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) return 'no database name after the host (expected postgres://user:password@host:5432/database)';
  const tlsParam = [...parsed.searchParams.keys()].find((k) => k === 'ssl' || k.startsWith('ssl'));
  // pg would let URL parameters override database.tls silently.
  if (tlsParam) return `TLS is set in database.tls, not with ${tlsParam}= in the URL`;
  return null;
}

/** The URL as it can appear in a log line or an error: without the password. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
