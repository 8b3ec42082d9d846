import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { Client, InvalidCredentialsError, UnwillingToPerformError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type ExecResult } from './support/exec.js';
import { startSlapd, type Slapd } from './support/slapd.js';

/** DNs in ldapsearch -LLL output (unwrapped, plain `dn: ...` lines only). */
function dns(r: ExecResult): string[] {
  return r.stdout
    .replace(/\n /g, '')
    .split('\n')
    .filter((l) => l.startsWith('dn: '))
    .map((l) => l.slice(4));
}

function search(
  url: string,
  bind: { dn: string; password: string } | undefined,
  base: string,
  filter: string,
  attrs: string[] = [],
  env?: Record<string, string>,
): Promise<ExecResult> {
  const auth = bind ? ['-D', bind.dn, '-w', bind.password] : [];
  return run('ldapsearch', ['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', url, ...auth, '-b', base, filter, ...attrs], { env, timeoutMs: 10_000 });
}

function whoami(url: string, dn: string, password: string): Promise<ExecResult> {
  return run('ldapwhoami', ['-x', '-H', url, '-D', dn, '-w', password], { timeoutMs: 10_000 });
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('slapd test fixture', () => {
  let plain: Slapd;
  let secure: Slapd;
  const startupMs: Record<string, number> = {};

  beforeAll(async () => {
    const timed = async (name: string, p: Promise<Slapd>): Promise<Slapd> => {
      const t0 = Date.now();
      const s = await p;
      startupMs[name] = Date.now() - t0;
      return s;
    };
    [plain, secure] = await Promise.all([
      timed(
        'plain',
        startSlapd({
          users: [
            { uid: 'alice', password: 'alice-pw', cn: 'Alice Liddell', mail: 'alice@example.org' },
            { uid: 'bob', password: 'bob pw with spaces and ünïcode ' },
          ],
          groups: [
            { cn: 'devs', members: ['alice'] },
            { cn: 'admins', members: [] },
          ],
        }),
      ),
      timed('tls', startSlapd({ tls: true, users: [{ uid: 'alice', password: 'alice-pw' }], groups: [{ cn: 'devs', members: ['alice'] }] })),
    ]);
    console.log(`slapd startup incl. seeding: ${JSON.stringify(startupMs)} ms`);
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([plain?.dispose(), secure?.dispose()]);
  });

  const reader = (s: Slapd) => ({ dn: s.readerDN, password: s.readerPassword });

  it('exposes the documented DNs', () => {
    expect(plain.url).toMatch(/^ldap:\/\/127\.0\.0\.1:\d+$/);
    expect(plain.ldapsUrl).toBeUndefined();
    expect(plain.caFile).toBeUndefined();
    expect(plain.suffix).toBe('dc=example,dc=org');
    expect(plain.rootDN).toBe('cn=admin,dc=example,dc=org');
    expect(plain.readerDN).toBe('cn=reader,dc=example,dc=org');
    expect(plain.peopleDN).toBe('ou=people,dc=example,dc=org');
    expect(plain.groupsDN).toBe('ou=groups,dc=example,dc=org');
    expect(plain.userDN('alice')).toBe('uid=alice,ou=people,dc=example,dc=org');
    expect(plain.groupDN('devs')).toBe('cn=devs,ou=groups,dc=example,dc=org');
    expect(plain.userDN('a,b')).toBe('uid=a\\,b,ou=people,dc=example,dc=org');
  });

  it('lets the reader find alice (without her password hash)', async () => {
    const r = await search(plain.url, reader(plain), plain.peopleDN, '(uid=alice)', ['*']);
    expect(r.code, r.stderr).toBe(0);
    expect(dns(r)).toEqual([plain.userDN('alice')]);
    expect(r.stdout).toContain('mail: alice@example.org');
    expect(r.stdout).toContain('cn: Alice Liddell');
    expect(r.stdout).not.toMatch(/userPassword/i);
    const groups = await search(plain.url, reader(plain), plain.groupsDN, '(objectClass=groupOfNames)', ['cn']);
    expect(groups.code, groups.stderr).toBe(0);
    expect(dns(groups).sort()).toEqual([plain.groupDN('admins'), plain.groupDN('devs')]);
  });

  it('gives anonymous searches nothing', async () => {
    const r = await search(plain.url, undefined, plain.suffix, '(objectClass=*)');
    // The base itself is not disclosed, so slapd answers noSuchObject (32) rather than an empty success.
    expect(r.code).toBe(32);
    expect(dns(r)).toEqual([]);
    const people = await search(plain.url, undefined, plain.peopleDN, '(uid=alice)');
    expect(dns(people)).toEqual([]);
  });

  it('binds users with the right password only; an empty password is refused (53), not anonymous', async () => {
    const ok = await whoami(plain.url, plain.userDN('alice'), 'alice-pw');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`dn:${plain.userDN('alice')}`);
    const bob = await whoami(plain.url, plain.userDN('bob'), 'bob pw with spaces and ünïcode ');
    expect(bob.code, bob.stderr).toBe(0);

    const wrong = await whoami(plain.url, plain.userDN('alice'), 'nope');
    expect(wrong.code).toBe(49);
    expect(wrong.stderr).toContain('Invalid credentials');

    // DN + empty password = RFC 4513 "unauthenticated bind"; slapd disallows it by default
    // (no `allow bind_anon_cred`/`bind_anon_dn`) with unwillingToPerform, it is NOT an anonymous success.
    const empty = await whoami(plain.url, plain.userDN('alice'), '');
    expect(empty.code).toBe(53);
    expect(empty.stderr).toContain('unauthenticated bind (DN with no password) disallowed');

    const missing = await whoami(plain.url, plain.userDN('nobody-here'), 'x');
    expect(missing.code).toBe(49);
  });

  it('lets a user read only its own entry and change nothing', async () => {
    const alice = { dn: plain.userDN('alice'), password: 'alice-pw' };
    const own = await search(plain.url, alice, plain.userDN('alice'), '(objectClass=*)', ['uid', 'userPassword']);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain('uid: alice');
    expect(own.stdout).not.toMatch(/userPassword/i);
    const others = await search(plain.url, alice, plain.peopleDN, '(uid=bob)');
    expect(dns(others)).toEqual([]);
    const groups = await search(plain.url, alice, plain.groupsDN, '(objectClass=*)');
    expect(dns(groups)).toEqual([]);

    for (const [attr, value] of [['mail', 'evil@example.org'], ['userPassword', 'hijacked']] as const) {
      const file = `${plain.workDir}/self-${attr}.ldif`; // run() has no stdin, so ldapmodify reads a file
      await writeFile(file, `dn: ${plain.userDN('alice')}\nchangetype: modify\nreplace: ${attr}\n${attr}: ${value}\n-\n`);
      const r = await run('ldapmodify', ['-x', '-H', plain.url, '-D', alice.dn, '-w', alice.password, '-f', file], { timeoutMs: 10_000 });
      expect(r.code, `${attr}: ${r.stderr}`).toBe(50); // insufficientAccess
    }
    const still = await whoami(plain.url, plain.userDN('alice'), 'alice-pw');
    expect(still.code, still.stderr).toBe(0);
  });

  it('adds and removes group members (groups stay valid when emptied)', async () => {
    const memberOf = async (uid: string): Promise<string[]> => {
      const r = await search(plain.url, reader(plain), plain.groupsDN, `(member=${plain.userDN(uid)})`, ['cn']);
      expect(r.code, r.stderr).toBe(0);
      return dns(r).sort();
    };
    expect(await memberOf('alice')).toEqual([plain.groupDN('devs')]);
    expect(await memberOf('bob')).toEqual([]);

    await plain.addToGroup('admins', 'alice');
    await plain.addToGroup('admins', 'alice'); // idempotent
    await plain.addToGroup('devs', 'bob');
    expect(await memberOf('alice')).toEqual([plain.groupDN('admins'), plain.groupDN('devs')]);
    expect(await memberOf('bob')).toEqual([plain.groupDN('devs')]);

    await plain.removeFromGroup('devs', 'alice');
    await plain.removeFromGroup('devs', 'alice'); // idempotent
    await plain.removeFromGroup('admins', 'alice'); // admins now has only the placeholder
    expect(await memberOf('alice')).toEqual([]);
    const admins = await search(plain.url, reader(plain), plain.groupDN('admins'), '(objectClass=*)', ['member']);
    expect(admins.code, admins.stderr).toBe(0);
    expect(admins.stdout).toContain(`member: ${plain.placeholderDN}`);

    await plain.addToGroup('devs', 'alice');
    await plain.removeFromGroup('devs', 'bob');
    expect(await memberOf('alice')).toEqual([plain.groupDN('devs')]);
    expect(await memberOf('bob')).toEqual([]);
  });

  it('adds users (also outside ou=people), changes passwords and deletes users', async () => {
    await plain.addUser({ uid: 'carol', password: 'c1', mail: 'carol@example.org' });
    await plain.addUser({ uid: 'svc', password: 's1', ou: 'robots' });
    expect(plain.userDN('svc')).toBe('uid=svc,ou=robots,dc=example,dc=org');
    await plain.addGroup({ cn: 'ops', members: ['carol', 'svc'] });

    expect((await whoami(plain.url, plain.userDN('carol'), 'c1')).code).toBe(0);
    expect((await whoami(plain.url, plain.userDN('svc'), 's1')).code).toBe(0);
    const inPeople = await search(plain.url, reader(plain), plain.peopleDN, '(uid=svc)');
    expect(dns(inPeople)).toEqual([]);
    const ops = await search(plain.url, reader(plain), plain.groupsDN, `(member=${plain.userDN('svc')})`);
    expect(dns(ops)).toEqual([plain.groupDN('ops')]);

    await plain.setPassword('carol', 'c2');
    expect((await whoami(plain.url, plain.userDN('carol'), 'c1')).code).toBe(49);
    expect((await whoami(plain.url, plain.userDN('carol'), 'c2')).code).toBe(0);

    await plain.removeUser('carol');
    expect((await whoami(plain.url, plain.userDN('carol'), 'c2')).code).toBe(49);
    await expect(plain.addUser({ uid: 'alice', password: 'dup' })).rejects.toThrow(/Already exists \(68\)|code 68/);
  });

  it('works with the ldapts Client (search-then-bind on one connection)', async () => {
    const client = new Client({ url: plain.url, timeout: 5000, connectTimeout: 5000 });
    try {
      await client.bind(plain.readerDN, plain.readerPassword);
      const { searchEntries } = await client.search(plain.peopleDN, { scope: 'sub', filter: '(uid=alice)', attributes: ['uid', 'mail', 'cn'] });
      expect(searchEntries).toHaveLength(1);
      const entry = searchEntries[0]!;
      expect(entry.dn).toBe(plain.userDN('alice'));
      expect(entry.mail).toBe('alice@example.org');

      const groups = await client.search(plain.groupsDN, { filter: `(member=${entry.dn})`, attributes: ['cn'] });
      expect(groups.searchEntries.map((g) => g.cn)).toEqual(['devs']);

      await client.bind(entry.dn, 'alice-pw');
      await expect(client.bind(entry.dn, 'wrong')).rejects.toBeInstanceOf(InvalidCredentialsError);
      // ldapts sends the empty password as-is; slapd refuses it. Wharf must still reject empty passwords itself,
      // since other servers (or slapd with `allow bind_anon_cred`) treat it as a successful anonymous bind.
      await expect(client.bind(entry.dn, '')).rejects.toBeInstanceOf(UnwillingToPerformError);
    } finally {
      await client.unbind();
    }
  });

  it('stop() refuses connections, start() brings it back with the data', async () => {
    await plain.stop();
    expect(await connectRefused(plain.port)).toBe(true);
    const down = await search(plain.url, reader(plain), plain.peopleDN, '(uid=alice)');
    expect(down.code).toBe(255);
    expect(down.stderr).toContain("Can't contact LDAP server");

    const client = new Client({ url: plain.url, connectTimeout: 2000 });
    await expect(client.bind(plain.readerDN, plain.readerPassword)).rejects.toThrow(/ECONNREFUSED|connect/i);
    await client.unbind().catch(() => undefined);

    const t0 = Date.now();
    await plain.start();
    console.log(`slapd restart: ${Date.now() - t0} ms`);
    const up = await search(plain.url, reader(plain), plain.peopleDN, '(uid=alice)');
    expect(up.code, up.stderr).toBe(0);
    expect(dns(up)).toEqual([plain.userDN('alice')]);
    expect((await whoami(plain.url, plain.userDN('svc'), 's1')).code).toBe(0);
    await plain.start(); // no-op while running
  });

  it('serves ldaps and StartTLS with the self-signed cert', async () => {
    expect(secure.ldapsUrl).toMatch(/^ldaps:\/\/127\.0\.0\.1:\d+$/);
    expect(secure.caFile).toBeDefined();
    const caFile = secure.caFile!;
    const env = { LDAPTLS_CACERT: caFile, LDAPTLS_REQCERT: 'demand' };

    const ldaps = await search(secure.ldapsUrl!, reader(secure), secure.peopleDN, '(uid=alice)', ['uid'], env);
    expect(ldaps.code, ldaps.stderr).toBe(0);
    expect(dns(ldaps)).toEqual([secure.userDN('alice')]);

    const startTls = await run(
      'ldapsearch',
      ['-x', '-ZZ', '-LLL', '-H', secure.url, '-D', secure.readerDN, '-w', secure.readerPassword, '-b', secure.peopleDN, '(uid=alice)', 'uid'],
      { env, timeoutMs: 10_000 },
    );
    expect(startTls.code, startTls.stderr).toBe(0);
    expect(dns(startTls)).toEqual([secure.userDN('alice')]);

    // Without the CA (system bundle from /etc/ldap/ldap.conf) the certificate is not trusted.
    const untrusted = await search(secure.ldapsUrl!, reader(secure), secure.peopleDN, '(uid=alice)', ['uid']);
    expect(untrusted.code).not.toBe(0);

    // ldapts over ldaps and over StartTLS, trusting only caFile.
    const ca = await readFile(caFile);
    const overLdaps = new Client({ url: secure.ldapsUrl!, tlsOptions: { ca, minVersion: 'TLSv1.2' }, connectTimeout: 5000 });
    try {
      await overLdaps.bind(secure.readerDN, secure.readerPassword);
      const { searchEntries } = await overLdaps.search(secure.peopleDN, { filter: '(uid=alice)', attributes: ['uid'] });
      expect(searchEntries.map((e) => e.dn)).toEqual([secure.userDN('alice')]);
      await overLdaps.bind(secure.userDN('alice'), 'alice-pw');
    } finally {
      await overLdaps.unbind();
    }
    const overStartTls = new Client({ url: secure.url, connectTimeout: 5000 });
    try {
      // Quirk: ldapts' startTLS() passes only these options (+ the socket) to tls.connect, so without `host`
      // Node verifies the certificate against "localhost". Wharf must pass the LDAP host here.
      await overStartTls.startTLS({ ca, host: '127.0.0.1' });
      await overStartTls.bind(secure.userDN('alice'), 'alice-pw');
    } finally {
      await overStartTls.unbind();
    }
    const noCa = new Client({ url: secure.ldapsUrl!, connectTimeout: 5000 });
    await expect(noCa.bind(secure.readerDN, secure.readerPassword)).rejects.toThrow(/self[- ]signed|certificate/i);
    await noCa.unbind().catch(() => undefined);
  });

  it('reports slapd startup errors with its stderr', async () => {
    const t0 = Date.now();
    const s = await startSlapd();
    console.log(`empty slapd startup: ${Date.now() - t0} ms`);
    try {
      await s.stop();
      await writeFile(`${s.workDir}/slapd.conf`, 'include /nonexistent.schema\n');
      await expect(s.start()).rejects.toThrow(/slapd exited before becoming ready[\s\S]*nonexistent\.schema/);
    } finally {
      await s.dispose();
    }
  });
});
