import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRow } from '../../src/db/engine';
import { audit, auditBudget, repositories, tags, users } from '../support/tables';
import { pruneAuditBudget } from '../../src/audit/record';
import { userPrincipal } from '../../src/identity/authenticate';
import { createSession } from '../../src/identity/sessions';
import { findUser } from '../../src/identity/users';
import { createLog } from '../../src/log';
import { skopeoCopy } from '../support/clients';
import { buildImage, type BuiltImage } from '../support/oci';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';
import { onPostgres } from '../support/test-database';

/** The audit log cannot fill the disk: folding, and what happens when the disk is full anyway. */

const MINUTE = 60_000;
/** A clock tests move by hand; it starts a few seconds into a minute, close to real time (tokens stay valid). */
const handClock = () => {
  let now = Math.floor(Date.now() / MINUTE) * MINUTE + 5_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;

describe('denials and failed logins fold into one row per subject, address and minute', () => {
  let w: TestWharf;
  const clock = handClock();

  beforeAll(async () => {
    w = await startTestWharf({ reconcileIntervalSeconds: 0 }, { clock });
    await w.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'secret' } });
  });
  afterAll(() => w?.stop());

  const deniedRows = () => w.wharf.deps.db.select().from(audit).where(eq(audit.action, 'token_denied'));

  it('many anonymous denied token requests write one row per repository with the right count', async () => {
    const scopes = ['repository:secret/a:pull', 'repository:secret/b:pull', 'repository:secret/c:pull,push'];
    const query = `service=wharf-registry&${scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`;
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${w.url}/service/token?${query}`);
      expect(res.status).toBe(200);
    }
    const rows = await deniedRows();
    expect(rows).toHaveLength(3);
    expect(Object.fromEntries(rows.map((r) => [r.repository, r.count]))).toEqual({ 'secret/a': 60, 'secret/b': 60, 'secret/c': 60 });
    for (const r of rows) {
      expect(r.username).toBe('anonymous');
      expect(r.sourceIp).toMatch(/127\.0\.0\.1|::1/);
      expect(r.outcome).toBe('denied');
    }

    // The next minute starts new rows; the old ones keep their counts.
    clock.advance(MINUTE);
    for (let i = 0; i < 5; i++) await fetch(`${w.url}/service/token?${query}`);
    const after = await deniedRows();
    expect(after).toHaveLength(6);
    expect(after.filter((r) => r.count === 5)).toHaveLength(3);
    expect(after.filter((r) => r.count === 60)).toHaveLength(3);
  });

  it('failed logins fold per name and address per minute, failures and lockout refusals apart', async () => {
    await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'victim', password: 'victim-password-1' } });
    clock.advance(MINUTE);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: basic(`victim:wrong-${i}`) } });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    const rows = await w.wharf.deps.db
      .select()
      .from(audit)
      .where(and(eq(audit.action, 'login_failed'), eq(audit.resource, 'victim')));
    expect(rows.map((r) => [r.outcome, r.count]).sort()).toEqual([
      ['failure', 10],
      ['throttled', 15],
    ]);
    expect(JSON.stringify(rows)).not.toContain('wrong-');
  });

  it('a caller naming a new repository on every request adds at most 20 rows a minute plus one that counts the rest', async () => {
    clock.advance(MINUTE);
    const before = (await deniedRows()).length;
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=${encodeURIComponent(`repository:secret/random-${i}:pull`)}`);
      expect(res.status).toBe(200);
    }
    const rows = (await deniedRows()).slice(before);
    expect(rows).toHaveLength(21);
    const overflow = rows.filter((r) => r.resource === '*');
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.count).toBe(80);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(100);
    // A repository named before the cap keeps folding into its own row.
    await fetch(`${w.url}/service/token?service=wharf-registry&scope=${encodeURIComponent('repository:secret/random-0:pull')}`);
    expect((await deniedRows()).find((r) => r.repository === 'secret/random-0' && r.time >= rows[0]!.time)!.count).toBe(2);
  });

  it('spraying many names from one address adds at most 20 failed-login rows a minute plus one', async () => {
    clock.advance(MINUTE);
    const failed = () => w.wharf.deps.db.select().from(audit).where(eq(audit.action, 'login_failed'));
    const before = (await failed()).length;
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: basic(`sprayed-${i}:wrong`) } });
      expect(res.status).toBe(401);
    }
    const rows = (await failed()).slice(before);
    expect(rows).toHaveLength(21);
    expect(rows.filter((r) => r.resource === '*').map((r) => [r.username, r.count])).toEqual([['anonymous', 30]]);
    // Past the cap, an existing account's failures still get their own row: an attack on it cannot hide.
    await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: basic('victim:still-wrong') } });
    expect((await failed()).slice(before).filter((r) => r.resource === 'victim').map((r) => r.count)).toEqual([1]);
    // The per-minute tallies die with their minute.
    const { db } = w.wharf.deps;
    await pruneAuditBudget(db, clock.now());
    const current = await db.select().from(auditBudget);
    expect(current.length).toBeGreaterThan(0);
    expect(current.every((r) => r.expiresAt > clock.now())).toBe(true);
    expect((await pruneAuditBudget(db, clock.now() + MINUTE))).toBe(current.length);
    expect((await db.select().from(auditBudget))).toEqual([]);
  });
});

/** Mounting needs root; the test says so instead of silently proving nothing. */
function canMountTmpfs(): boolean {
  try {
    execFileSync('sh', ['-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes a file until the file system says ENOSPC; the disk is then really full. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [256 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

// The SQLite database fills the data directory's disk; a PostgreSQL database lives elsewhere.
describe.skipIf(!canMountTmpfs() || onPostgres)('with the data directory on a full disk (a 4 MiB tmpfs)', () => {
  let work: string;
  let mount: string;
  let image: BuiltImage;
  let w: TestWharf;
  const logLines: { level: number; msg: string; code?: string }[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-diskfull-'));
    mount = path.join(work, 'data');
    execFileSync('mkdir', ['-p', mount]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
    image = await buildImage(path.join(work, 'img'), { tag: 'v1' });
    const log = createLog('info', { write: (line: string) => void logLines.push(JSON.parse(line)) });
    w = await startTestWharf({ reconcileIntervalSeconds: 0, registry: { storage: path.join(work, 'registry') } }, { dataDir: mount, log });
  });
  afterAll(async () => {
    await w?.stop();
    if (mount) execFileSync('umount', [mount]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses writes with 503 storage_full, logs it once, refuses notifications, and lands them once space is freed', async () => {
    const { db } = w.wharf.deps;
    const session = await createSession(w.wharf.deps, userPrincipal((await findUser(db, 'admin'))!, 'password'), { ip: '127.0.0.1' });
    const secret = (await readFile(path.join(w.dataDir, 'notification-secret'), 'utf8')).trim();
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'uncached', password: 'uncached-password-1' } })).status).toBe(201);
    // Everything SQLite had in its write-ahead log goes to the database file, so any write needs new space.
    w.wharf.database.sqlite!.pragma('wal_checkpoint(TRUNCATE)');
    // A tiny page cache makes SQLite write pages out during a transaction, not only at commit: the
    // disk-full error then surfaces inside a single event's savepoint too.
    w.wharf.database.sqlite!.pragma('cache_size = 1');
    const filler = path.join(mount, 'filler');
    fillDisk(filler);

    // Token requests that write an audit row (a denial).
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:nobody/x:pull`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('60');
      // The token endpoint answers in the registry's error shape, so docker prints the reason.
      expect(await res.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: expect.stringMatching(/storage/) }] });
    }
    // A password that is checked (not cached) is counted first: on a full disk right and wrong
    // answer alike, so the status says nothing about the password, and no guess goes uncounted.
    for (const password of ['uncached-password-1', 'wrong-password-1']) {
      const res = await fetch(`${w.url}/service/token?service=wharf-registry`, { headers: { authorization: basic(`uncached:${password}`) } });
      expect(res.status, password).toBe(503);
    }
    // The API.
    const created = await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'newbie', password: 'newbie-password-1' } });
    expect(created.status).toBe(503);
    expect(created.body.error.code).toBe('storage_full');
    expect(JSON.stringify(created.body)).not.toMatch(/SQLITE|at .*\.ts/);
    expect((await firstRow(db.select().from(users).where(eq(users.username, 'newbie'))))).toBeUndefined();
    // The web interface.
    const page = await fetch(`${w.url}/projects`, {
      method: 'POST',
      headers: { cookie: `wharf_session=${session.cookieValue}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: session.csrfToken, name: 'fullproject' }).toString(),
      redirect: 'manual',
    });
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('Wharf cannot write to its storage');

    // A notification sent while the disk is full is refused, so the registry keeps it and retries.
    const event = {
      id: 'diskfull-direct-1',
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, repository: 'library/direct', tag: 'v1', size: 1 },
      actor: { name: 'admin' },
    };
    const refused = await fetch(`${w.url}/service/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify({ events: [event] }),
    });
    expect(refused.status).toBe(503);

    // A real push: the registry's own notification is refused (and retried) while the disk is full.
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${w.registry}/library/app:v1`, { destCreds: admin });
    expect(pushed.code, pushed.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2500));
    const appTag = () =>
      firstRow(
        db
          .select({ digest: tags.digest })
          .from(tags)
          .innerJoin(repositories, eq(repositories.id, tags.repositoryId))
          .where(and(eq(repositories.name, 'library/app'), eq(tags.name, 'v1'))),
      );
    expect((await appTag())).toBeUndefined();

    // One log line about it, not one per refused request.
    const alarms = logLines.filter((l) => /storage full/.test(l.msg));
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.code).toMatch(/^SQLITE_FULL|^SQLITE_IOERR/);
    expect(logLines.filter((l) => l.msg === 'unhandled error')).toEqual([]);

    // Space freed: the registry's retry lands, and writes work again.
    await rm(filler);
    await waitFor(async () => (await appTag())?.digest === image.manifestDigest, 30_000, "the retried notification");
    expect((await db.select().from(audit).where(and(eq(audit.action, 'push'), eq(audit.repository, 'library/app'))))).toHaveLength(1);
    const resent = await fetch(`${w.url}/service/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify({ events: [event] }),
    });
    expect(resent.status).toBe(200);
    expect(((await resent.json()) as { applied: number }).applied).toBe(1);
    const ok = await fetch(`${w.url}/service/token?service=wharf-registry&scope=repository:nobody/x:pull`);
    expect(ok.status).toBe(200);
    expect((await w.api('POST', '/api/v1/users', { auth: admin, body: { username: 'newbie', password: 'newbie-password-1' } })).status).toBe(201);
  });
});
