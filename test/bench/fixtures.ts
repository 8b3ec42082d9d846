/** Names shared by the bench server (test/bench/server.ts) and the load generator (test/bench/run.ts). */

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
}

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
