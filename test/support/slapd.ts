import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec.js';
import { freePort, tcpOpen } from './ports.js';
import { startHelper, waitUntilReady, type HelperProcess } from './process.js';

/**
 * Throw-away OpenLDAP server (Debian `slapd`) for LDAP integration tests.
 *
 * Layout (suffix dc=example,dc=org):
 *   dc=example,dc=org                 dcObject/organization
 *   cn=admin,dc=example,dc=org        rootdn (not an entry; bypasses ACLs)
 *   cn=reader,dc=example,dc=org       organizationalRole+simpleSecurityObject, search-only service account
 *   cn=nobody,dc=example,dc=org       placeholder member kept in every group (groupOfNames needs >= 1 member)
 *   ou=people,dc=example,dc=org       inetOrgPerson uid=...  (other OUs are created on demand by addUser({ou}))
 *   ou=groups,dc=example,dc=org       groupOfNames cn=...  member: <user DN>
 *
 * ACLs: userPassword is usable for bind only (`by anonymous auth`, nobody can read or change it except the
 * rootdn); the reader can read everything else; a bound user can read its own entry and nothing else
 * (so users cannot read groups: group lookups must be done as the reader); anonymous searches find nothing;
 * no non-root identity can write anything.
 *
 * slapd runs in the foreground (`-d none`: quiet, but startup errors still go to stderr) as a tracked
 * child of the test process.
 */

export interface SlapdUser {
  uid: string;
  password: string;
  /** Default: uid. Also used for sn (inetOrgPerson requires sn). */
  cn?: string;
  mail?: string;
  /** OU under the suffix (default 'people'); created if missing. Users outside ou=people are outside peopleDN. */
  ou?: string;
}

export interface SlapdGroup {
  cn: string;
  /** uids (resolved with userDN(), so users added with a custom ou resolve to their real DN) */
  members: string[];
}

export interface Slapd {
  /** ldap://127.0.0.1:PORT (StartTLS also works here when started with tls: true) */
  url: string;
  /** ldaps://127.0.0.1:PORT2 when started with tls: true */
  ldapsUrl?: string;
  /** PEM of the self-signed cert (CN=127.0.0.1, SAN IP:127.0.0.1) served on ldaps/StartTLS; use as the client's CA. */
  caFile?: string;
  port: number;
  ldapsPort?: number;
  suffix: string;
  rootDN: string;
  rootPassword: string;
  /** Search-only account that may read people and groups (but not userPassword). */
  readerDN: string;
  readerPassword: string;
  peopleDN: string;
  groupsDN: string;
  /** DN of the placeholder member present in every group. */
  placeholderDN: string;
  /** Temp dir holding slapd.conf, the database, and cert/key. */
  workDir: string;
  userDN(uid: string): string;
  groupDN(cn: string): string;
  addUser(u: SlapdUser): Promise<void>;
  /** Deletes the user entry (group memberships are not touched: no refint overlay). */
  removeUser(uid: string): Promise<void>;
  addGroup(g: SlapdGroup): Promise<void>;
  /** Adds `member: userDN(uid)`; idempotent. */
  addToGroup(cn: string, uid: string): Promise<void>;
  /** Removes `member: userDN(uid)`; idempotent (the placeholder member keeps the group valid). */
  removeFromGroup(cn: string, uid: string): Promise<void>;
  setPassword(uid: string, password: string): Promise<void>;
  /** Escape hatch: apply an LDIF change record (changetype: ...) as the rootdn via ldapmodify. */
  modify(ldif: string): Promise<void>;
  /** Last 16 KiB of slapd's stderr (all runs). */
  stderr(): string;
  /** SIGTERM slapd (SIGKILL after 5 s) and wait for exit. Keeps the data unless remove is set. Idempotent. */
  stop(opts?: { remove?: boolean }): Promise<void>;
  /** Starts slapd again on the same port(s) and data, and waits until it serves. No-op if running. */
  start(): Promise<void>;
  /** stop() and remove the temp dir. */
  dispose(): Promise<void>;
}

export interface StartSlapdOptions {
  users?: SlapdUser[];
  groups?: SlapdGroup[];
  /** Also serve ldaps:// on a second port and enable StartTLS, with a fresh self-signed cert. */
  tls?: boolean;
  /** Max ms to wait for slapd to answer (default 10 000). */
  readyTimeoutMs?: number;
}

const SUFFIX = 'dc=example,dc=org';
const ROOT_DN = `cn=admin,${SUFFIX}`;
const READER_DN = `cn=reader,${SUFFIX}`;
const NOBODY_DN = `cn=nobody,${SUFFIX}`;
const PEOPLE_DN = `ou=people,${SUFFIX}`;
const GROUPS_DN = `ou=groups,${SUFFIX}`;
const STDERR_TAIL = 16 * 1024;
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];

// LDAP result codes tolerated by the idempotent helpers.
const LDAP_NO_SUCH_ATTRIBUTE = 16;
const LDAP_TYPE_OR_VALUE_EXISTS = 20;
const LDAP_NO_SUCH_OBJECT = 32;
const LDAP_ALREADY_EXISTS = 68;

/** RFC 4514 escaping of one attribute value inside a DN. */
export function escapeDNValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=\0]/g, (c) => (c === '\0' ? '\\00' : `\\${c}`));
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** One LDIF attribute line; base64 (`attr:: ...`) unless the value is a plain RFC 2849 SAFE-STRING. */
function ldifLine(attr: string, value: string): string {
  const safe = /^(?:[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*)?$/.test(value) && !value.endsWith(' ');
  return safe ? `${attr}: ${value}` : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** {SSHA} hash understood natively by slapd. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(Buffer.from(password, 'utf8')).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

function record(dn: string, attrs: Array<[string, string]>): string {
  return [ldifLine('dn', dn), ...attrs.map(([a, v]) => ldifLine(a, v))].join('\n');
}


function describeResult(what: string, r: ExecResult): string {
  return `${what} failed (code ${r.code}): ${(r.stderr + r.stdout).trim()}`;
}

function slapdConf(dir: string, rootPasswordHash: string, tls: boolean): string {
  const q = (s: string): string => JSON.stringify(s); // slapd.conf accepts double-quoted values
  return [
    ...SCHEMAS.map((s) => `include /etc/ldap/schema/${s}.schema`),
    `pidfile ${q(join(dir, 'slapd.pid'))}`,
    `argsfile ${q(join(dir, 'slapd.args'))}`,
    // Debian builds the backends as modules (/usr/lib/ldap/back_mdb.so), so load it explicitly.
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    ...(tls ? [`TLSCertificateFile ${q(join(dir, 'cert.pem'))}`, `TLSCertificateKeyFile ${q(join(dir, 'key.pem'))}`] : []),
    '',
    'database mdb',
    'maxsize 67108864',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${rootPasswordHash}`,
    `directory ${q(join(dir, 'db'))}`,
    'index objectClass eq',
    'index uid,cn,mail,member eq',
    // Passwords: only usable to authenticate (bind is evaluated as anonymous, also on a connection that
    // is already bound as the reader), never readable or writable by anyone but the rootdn.
    'access to attrs=userPassword',
    '  by anonymous auth',
    '  by * none',
    `access to *`,
    `  by dn.exact="${READER_DN}" read`,
    '  by self read',
    '  by * none',
    '',
  ].join('\n');
}

export async function startSlapd(opts: StartSlapdOptions = {}): Promise<Slapd> {
  const tls = opts.tls ?? false;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  const workDir = await mkdtemp(join(tmpdir(), 'wharf-slapd-'));
  const rootPassword = randomBytes(12).toString('hex');
  const readerPassword = randomBytes(12).toString('hex');

  const port = await freePort();
  let ldapsPort: number | undefined;
  if (tls) {
    do ldapsPort = await freePort();
    while (ldapsPort === port);
  }
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = ldapsPort === undefined ? undefined : `ldaps://127.0.0.1:${ldapsPort}`;
  const caFile = tls ? join(workDir, 'cert.pem') : undefined;

  let disposed = false;
  let helper: HelperProcess | undefined;
  // Kept across restarts, so a failure message shows what earlier runs said too.
  let earlierStderr = '';
  let ldifCounter = 0;
  const userDNs = new Map<string, string>();
  const knownOUs = new Set<string>(['people', 'groups']);

  const userDN = (uid: string): string => userDNs.get(uid) ?? `uid=${escapeDNValue(uid)},${PEOPLE_DN}`;
  const groupDN = (cn: string): string => `cn=${escapeDNValue(cn)},${GROUPS_DN}`;

  /** Runs ldapadd/ldapmodify as the rootdn with the LDIF in a temp file (run() has no stdin). */
  const ldapWrite = async (tool: 'ldapadd' | 'ldapmodify', ldif: string, extra: string[] = []): Promise<ExecResult> => {
    const file = join(workDir, `op-${++ldifCounter}.ldif`);
    await writeFile(file, `${ldif.trim()}\n`);
    try {
      return await run(tool, ['-x', '-H', url, '-D', ROOT_DN, '-w', rootPassword, ...extra, '-f', file], { timeoutMs: 15_000 });
    } finally {
      await rm(file, { force: true });
    }
  };
  const mustWrite = async (what: string, tool: 'ldapadd' | 'ldapmodify', ldif: string, okCodes: number[] = []): Promise<void> => {
    const r = await ldapWrite(tool, ldif);
    if (r.code !== 0 && !okCodes.includes(r.code)) throw new Error(describeResult(`slapd: ${what}`, r));
  };

  const ouRecord = (ou: string): string => record(`ou=${escapeDNValue(ou)},${SUFFIX}`, [['objectClass', 'organizationalUnit'], ['ou', ou]]);

  const dnOfNewUser = (u: SlapdUser): string => `uid=${escapeDNValue(u.uid)},ou=${escapeDNValue(u.ou ?? 'people')},${SUFFIX}`;
  const userRecord = (u: SlapdUser): string => {
    const dn = dnOfNewUser(u);
    const cn = u.cn ?? u.uid;
    const attrs: Array<[string, string]> = [
      ['objectClass', 'inetOrgPerson'],
      ['uid', u.uid],
      ['cn', cn],
      ['sn', cn],
      ['userPassword', ssha(u.password)],
    ];
    if (u.mail !== undefined) attrs.push(['mail', u.mail]);
    return record(dn, attrs);
  };

  const groupRecord = (g: SlapdGroup): string =>
    record(groupDN(g.cn), [
      ['objectClass', 'groupOfNames'],
      ['cn', g.cn],
      ['member', NOBODY_DN],
      ...[...new Set(g.members.map(userDN))].map((m): [string, string] => ['member', m]),
    ]);

  const ensureOUs = async (users: readonly SlapdUser[]): Promise<string[]> => {
    const fresh = [...new Set(users.map((u) => u.ou ?? 'people'))].filter((ou) => !knownOUs.has(ou));
    for (const ou of fresh) knownOUs.add(ou);
    return fresh.map(ouRecord);
  };

  const launch = async (): Promise<void> => {
    if (disposed) throw new Error('slapd: already disposed');
    if (helper && helper.exitReason() === null) return;
    const listeners = [`ldap://127.0.0.1:${port}/`, ...(ldapsPort === undefined ? [] : [`ldaps://127.0.0.1:${ldapsPort}/`])];
    if (helper) earlierStderr = (earlierStderr + helper.stderr()).slice(-STDERR_TAIL);
    // -d none: stay in the foreground, log nothing during operation but still print startup errors.
    const slapd = startHelper('/usr/sbin/slapd', ['-f', join(workDir, 'slapd.conf'), '-h', listeners.join(' '), '-d', 'none']);
    helper = slapd;
    await waitUntilReady(slapd, {
      name: 'slapd',
      where: listeners.join(' '),
      timeoutMs: readyTimeoutMs,
      intervalMs: 20,
      async probe() {
        if (!(await tcpOpen(port))) return 'port closed';
        // Root bind + base search: 0 once seeded, 32 (noSuchObject) on a fresh, empty database.
        const r = await run('ldapsearch', ['-x', '-LLL', '-H', url, '-D', ROOT_DN, '-w', rootPassword, '-b', SUFFIX, '-s', 'base', '1.1'], {
          timeoutMs: 5000,
        });
        if (r.code !== 0 && r.code !== LDAP_NO_SUCH_OBJECT) return describeResult('ldapsearch', r);
        if (ldapsPort !== undefined && !(await tcpOpen(ldapsPort))) return `ldaps port ${ldapsPort} not open`;
        return true;
      },
      cleanUp: halt,
    });
  };

  const halt = async (): Promise<void> => {
    await helper?.stop(5000);
  };

  const dispose = async (): Promise<void> => {
    await halt();
    disposed = true;
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    await mkdir(join(workDir, 'db'));
    if (tls) {
      const key = join(workDir, 'key.pem');
      const gen = await run(
        'openssl',
        [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', key, '-out', caFile!, '-days', '7', '-subj', '/CN=127.0.0.1',
          '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'extendedKeyUsage=serverAuth',
        ],
        { timeoutMs: 15_000 },
      );
      if (gen.code !== 0) throw new Error(describeResult('openssl req (slapd cert)', gen));
      // openssl writes the key 0600; make it readable in case slapd runs as another user.
      await chmod(key, 0o644);
    }
    await writeFile(join(workDir, 'slapd.conf'), slapdConf(workDir, ssha(rootPassword), tls));
    await launch();

    const users = opts.users ?? [];
    const seed = [
      record(SUFFIX, [['objectClass', 'dcObject'], ['objectClass', 'organization'], ['dc', 'example'], ['o', 'Example']]),
      ouRecord('people'),
      ouRecord('groups'),
      record(READER_DN, [
        ['objectClass', 'organizationalRole'],
        ['objectClass', 'simpleSecurityObject'],
        ['cn', 'reader'],
        ['userPassword', ssha(readerPassword)],
      ]),
      record(NOBODY_DN, [['objectClass', 'organizationalRole'], ['cn', 'nobody']]),
      ...(await ensureOUs(users)),
      ...users.map(userRecord),
    ];
    for (const u of users) userDNs.set(u.uid, dnOfNewUser(u)); // before groupRecord resolves member uids
    seed.push(...(opts.groups ?? []).map(groupRecord));
    await mustWrite('seeding the directory', 'ldapadd', seed.join('\n\n'));
  } catch (err) {
    await dispose();
    throw err;
  }

  const slapd: Slapd = {
    url,
    ...(ldapsUrl === undefined ? {} : { ldapsUrl, ldapsPort: ldapsPort! }),
    ...(caFile === undefined ? {} : { caFile }),
    port,
    suffix: SUFFIX,
    rootDN: ROOT_DN,
    rootPassword,
    readerDN: READER_DN,
    readerPassword,
    peopleDN: PEOPLE_DN,
    groupsDN: GROUPS_DN,
    placeholderDN: NOBODY_DN,
    workDir,
    userDN,
    groupDN,
    async addUser(u) {
      const ous = await ensureOUs([u]);
      for (const r of ous) await mustWrite(`adding ${r.split('\n')[0]}`, 'ldapadd', r, [LDAP_ALREADY_EXISTS]);
      await mustWrite(`adding user ${u.uid}`, 'ldapadd', userRecord(u));
      userDNs.set(u.uid, dnOfNewUser(u));
    },
    async removeUser(uid) {
      await mustWrite(`deleting user ${uid}`, 'ldapmodify', `${ldifLine('dn', userDN(uid))}\nchangetype: delete`);
      userDNs.delete(uid);
    },
    async addGroup(g) {
      await mustWrite(`adding group ${g.cn}`, 'ldapadd', groupRecord(g));
    },
    async addToGroup(cn, uid) {
      const ldif = `${ldifLine('dn', groupDN(cn))}\nchangetype: modify\nadd: member\n${ldifLine('member', userDN(uid))}\n-`;
      await mustWrite(`adding ${uid} to group ${cn}`, 'ldapmodify', ldif, [LDAP_TYPE_OR_VALUE_EXISTS]);
    },
    async removeFromGroup(cn, uid) {
      const ldif = `${ldifLine('dn', groupDN(cn))}\nchangetype: modify\ndelete: member\n${ldifLine('member', userDN(uid))}\n-`;
      await mustWrite(`removing ${uid} from group ${cn}`, 'ldapmodify', ldif, [LDAP_NO_SUCH_ATTRIBUTE]);
    },
    async setPassword(uid, password) {
      const ldif = `${ldifLine('dn', userDN(uid))}\nchangetype: modify\nreplace: userPassword\n${ldifLine('userPassword', ssha(password))}\n-`;
      await mustWrite(`setting the password of ${uid}`, 'ldapmodify', ldif);
    },
    async modify(ldif) {
      await mustWrite('ldapmodify', 'ldapmodify', ldif);
    },
    stderr: () => (earlierStderr + (helper?.stderr() ?? '')).slice(-STDERR_TAIL),
    async stop(o) {
      if (o?.remove) await dispose();
      else await halt();
    },
    start: launch,
    dispose,
  };
  return slapd;
}
