import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy } from '../support/clients';
import { buildImage, sha256Digest, type BuiltImage } from '../support/oci';
import { audit, repositories, tags } from '../support/tables';
import { onPostgres } from '../support/test-database';
import { waitFor } from '../support/wait';
import { admin, startTestWharf, type TestWharf } from '../support/wharf';

/**
 * Two Wharf instances in this process on one PostgreSQL database and one registry (A supervises
 * it, B only uses it), each with its own data directory holding copies of the same key and secret
 * files, as the README says to deploy them.
 */

const PASSWORD = 'instances-password-1';
/** The same settings on both instances; a small lockout threshold keeps the throttle case short. */
const SHARED = { auth: { maxFailures: 3 }, reconcileIntervalSeconds: 0 };
/** The files both instances must hold the same copy of. */
const SHARED_FILES = ['token-signing.key', 'token-signing.crt', 'notification-secret', 'registry-http-secret', 'replication.key'];

/** A registry token for `credentials` from instance `w`'s token endpoint. */
async function tokenFrom(w: TestWharf, credentials: string, scope: string): Promise<{ status: number; token?: string }> {
  const service = w.wharf.deps.config.token.service;
  const r = await w.api('GET', `/service/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { auth: credentials });
  return { status: r.status, token: r.body?.token };
}

async function health(w: TestWharf): Promise<string> {
  return (await w.api('GET', '/api/v1/health')).body.scheduler;
}

/** A gauge's or a counter's value from /metrics; 0 when absent. */
async function metric(w: TestWharf, line: string): Promise<number> {
  const text = (await w.api('GET', '/metrics', { auth: admin })).body as string;
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ')[1]) : 0;
}

const leaders = async (instances: TestWharf[]) => (await Promise.all(instances.map(health))).filter((s) => s === 'leader').length;

// Several instances share one database only on PostgreSQL; on SQLite each instance owns its file.
describe.skipIf(!onPostgres)('two instances on one PostgreSQL database and one registry', () => {
  let work: string;
  let a: TestWharf;
  let b: TestWharf;
  let image: BuiltImage;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-instances-'));
    [a, image] = await Promise.all([startTestWharf(SHARED), buildImage(path.join(work, 'image'), { tag: 'v1' })]);
    const dataDirB = path.join(work, 'b');
    await mkdir(dataDirB, { mode: 0o700 });
    for (const file of SHARED_FILES) await copyFile(path.join(a.dataDir, file), path.join(dataDirB, file));
    b = await startTestWharf({ ...SHARED, database: { url: a.wharf.deps.config.database.url } }, { dataDir: dataDirB, registry: a.registry });
    for (const username of ['carol', 'dave', 'erin', 'frank', 'gina', 'hank'])
      expect((await a.api('POST', '/api/v1/users', { auth: admin, body: { username, password: PASSWORD } })).status).toBe(201);
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a registry token from either instance is accepted by the registry', async () => {
    const scope = 'repository:library/instances:pull,push';
    const blob = Buffer.from(`blob ${randomUUID()}`);
    // A blob upload: start it, then send the blob with its digest; the registry's status of the last step that ran.
    const upload = async (token?: string) => {
      const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const started = await fetch(`http://${a.registry}/v2/library/instances/blobs/uploads/`, { method: 'POST', headers: auth });
      if (started.status !== 202) return started.status;
      const location = new URL(started.headers.get('location')!, `http://${a.registry}`);
      location.searchParams.set('digest', sha256Digest(blob));
      return (await fetch(location, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: blob })).status;
    };
    expect(await upload()).toBe(401);
    for (const w of [a, b]) {
      const { status, token } = await tokenFrom(w, admin, scope);
      expect(status).toBe(200);
      expect(await upload(token)).toBe(201);
    }
    // and skopeo, whose token comes from A's realm, pushes what B then lists
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${a.registry}/library/instances:v1`, { destCreds: admin });
    expect(pushed.code, pushed.stderr).toBe(0);
    await waitFor(async () => (await b.api('GET', '/api/v1/repositories/library%2Finstances/tags', { auth: admin })).body.total === 1, 10_000, 'B lists the tag');
  });

  /** Signs `username` in on `w` through the API; the session cookie. */
  async function signIn(w: TestWharf, username: string): Promise<string> {
    const login = await fetch(`${w.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    return login.headers.get('set-cookie')!.split(';')[0]!;
  }

  it('a UI session made on A works on B', async () => {
    const cookie = await signIn(a, 'carol');
    const me = await b.api('GET', '/api/v1/me', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body.username).toBe('carol');
    const page = await fetch(`${b.url}/account`, { headers: { cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('carol');
  });

  /** Warms B's credential cache with a password login and shows the entry is there. */
  async function warmOnB(username: string): Promise<void> {
    expect((await tokenFrom(b, `${username}:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(200);
    expect((await tokenFrom(b, `${username}:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(200);
    const cache = b.wharf.deps.credentialCache;
    expect(cache.get(cache.key(username, PASSWORD))).toBeDefined();
  }

  /** B refuses the credential on its first try after A's change, within one second of A's answer. */
  async function refusedByB(credentials: string, changedAt: number): Promise<void> {
    const r = await tokenFrom(b, credentials, 'repository:library/instances:pull');
    expect(r.status).toBe(401);
    expect(Date.now() - changedAt).toBeLessThan(1000);
  }

  it('a password change on A is refused by B at once, with B’s cache warm; the session made on A before it ends on B', async () => {
    const cookie = await signIn(a, 'carol');
    expect((await b.api('GET', '/api/v1/me', { headers: { cookie } })).status).toBe(200);
    await warmOnB('carol');
    const changed = await a.api('PUT', '/api/v1/users/carol/password', { auth: admin, body: { newPassword: 'carol-new-password-1' } });
    expect(changed.status).toBe(204);
    const at = Date.now();
    // A's change dropped only A's entry: B still holds its own when it is asked.
    const cache = b.wharf.deps.credentialCache;
    expect(cache.get(cache.key('carol', PASSWORD))).toBeDefined();
    await refusedByB(`carol:${PASSWORD}`, at);
    expect((await b.api('GET', '/api/v1/me', { headers: { cookie } })).status).toBe(401);
    expect((await tokenFrom(b, 'carol:carol-new-password-1', 'repository:library/instances:pull')).status).toBe(200);
  });

  it('a disable on A is refused by B at once, with B’s cache warm', async () => {
    await warmOnB('dave');
    expect((await a.api('PATCH', '/api/v1/users/dave', { auth: admin, body: { disabled: true } })).status).toBe(200);
    const at = Date.now();
    const cache = b.wharf.deps.credentialCache;
    expect(cache.get(cache.key('dave', PASSWORD))).toBeDefined();
    await refusedByB(`dave:${PASSWORD}`, at);
  });

  it('a personal token revoked on A is refused by B at once', async () => {
    await warmOnB('erin');
    const created = await a.api('POST', '/api/v1/users/erin/tokens', { auth: `erin:${PASSWORD}`, body: { name: 'ci' } });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect((await tokenFrom(b, `erin:${secret}`, 'repository:library/instances:pull')).status).toBe(200);
    expect((await a.api('DELETE', '/api/v1/users/erin/tokens/ci', { auth: admin })).status).toBe(204);
    await refusedByB(`erin:${secret}`, Date.now());
    // the password of the same user still works: only the token went
    expect((await tokenFrom(b, `erin:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(200);
  });

  it('a refresh token made on A dies on B with a disable on A; a robot disabled on A is refused by B', async () => {
    const tokenPost = (w: TestWharf, form: Record<string, string>) =>
      fetch(`${w.url}/service/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    const service = a.wharf.deps.config.token.service;
    const offline = await tokenPost(a, { grant_type: 'password', username: 'hank', password: PASSWORD, access_type: 'offline', service });
    expect(offline.status).toBe(200);
    const refreshToken = ((await offline.json()) as { refresh_token: string }).refresh_token;
    const redeemOnB = () => tokenPost(b, { grant_type: 'refresh_token', refresh_token: refreshToken, service }).then((r) => r.status);
    expect(await redeemOnB()).toBe(200);
    expect((await a.api('PATCH', '/api/v1/users/hank', { auth: admin, body: { disabled: true } })).status).toBe(200);
    expect(await redeemOnB()).toBe(401);

    expect((await a.api('POST', '/api/v1/projects', { auth: admin, body: { name: 'inst' } })).status).toBe(201);
    const robot = await a.api('POST', '/api/v1/projects/inst/robots', { auth: admin, body: { name: 'ci', permissions: ['pull'] } });
    expect(robot.status).toBe(201);
    const robotCredentials = `${robot.body.name}:${robot.body.secret}`;
    expect((await tokenFrom(b, robotCredentials, 'repository:inst/app:pull')).status).toBe(200);
    expect((await a.api('PATCH', '/api/v1/projects/inst/robots/ci', { auth: admin, body: { disabled: true } })).status).toBe(200);
    expect((await tokenFrom(b, robotCredentials, 'repository:inst/app:pull')).status).toBe(401);
  });

  it('failed logins on A lock the name out on B', async () => {
    for (let i = 0; i < SHARED.auth.maxFailures; i++) expect((await tokenFrom(a, 'frank:wrong-password', 'repository:library/instances:pull')).status).toBe(401);
    expect((await tokenFrom(b, `frank:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(429);
    expect((await tokenFrom(a, `frank:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(429);
  });

  it('the same notification envelope posted to both at once is applied once: one tag row, one audit row', async () => {
    const secret = (await readFile(path.join(a.dataDir, 'notification-secret'), 'utf8')).trim();
    const digest = `sha256:${'e'.repeat(64)}`;
    const envelope = JSON.stringify({
      events: [
        {
          id: randomUUID(),
          timestamp: new Date().toISOString(),
          action: 'push',
          target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'library/once', digest, tag: 'v1' },
          request: { method: 'PUT', addr: '10.0.0.9:5000', useragent: 'test' },
          actor: { name: 'admin' },
        },
      ],
    });
    const post = (w: TestWharf) =>
      fetch(`${w.url}/service/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
        body: envelope,
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { applied: number; duplicates: number } }));
    const answers = await Promise.all([post(a), post(b)]);
    expect(answers.map((x) => x.status)).toEqual([200, 200]);
    expect(answers.map((x) => x.body.applied).sort()).toEqual([0, 1]);
    expect(answers.map((x) => x.body.duplicates).sort()).toEqual([0, 1]);
    const db = a.wharf.deps.db;
    const repo = (await db.select().from(repositories).where(eq(repositories.name, 'library/once')))[0]!;
    expect(await db.select().from(tags).where(eq(tags.repositoryId, repo.id))).toHaveLength(1);
    expect(await db.select().from(audit).where(and(eq(audit.action, 'push'), eq(audit.repository, 'library/once')))).toHaveLength(1);
  });

  it('deletes of one repository on both instances wait for the lock in the database; the same tag deleted on both: one 204, the other 404 as on one instance; one audit row', async () => {
    const pushed = await skopeoCopy(`oci:${image.dir}:v1`, `docker://${a.registry}/library/twice:v1`, { destCreds: admin });
    expect(pushed.code, pushed.stderr).toBe(0);
    await waitFor(async () => (await a.api('GET', '/api/v1/repositories/library%2Ftwice/tags', { auth: admin })).body.total === 1, 10_000, 'tag known');
    const holder = new pg.Client({ connectionString: a.wharf.deps.config.database.url });
    await holder.connect();
    const answers: number[] = [];
    let deletes: Promise<number[]>;
    try {
      // The repository's delete lock, held here as a slow delete on a third instance would.
      await holder.query("SELECT pg_advisory_lock(hashtext('wharf.deletions'), hashtext('library/twice'))");
      const del = (w: TestWharf) =>
        w.api('DELETE', '/api/v1/repositories/library%2Ftwice/tags/v1', { auth: admin }).then((r) => {
          answers.push(r.status);
          return r.status;
        });
      deletes = Promise.all([del(a), del(b)]);
      await new Promise((r) => setTimeout(r, 700));
      expect(answers).toEqual([]);
    } finally {
      await holder.end();
    }
    expect((await deletes).sort()).toEqual([204, 404]);
    const db = a.wharf.deps.db;
    expect(await db.select().from(audit).where(and(eq(audit.action, 'tag_delete'), eq(audit.resource, 'library/twice:v1')))).toHaveLength(1);
  });

  it('exactly one instance leads; its schedulers ran there only; after its leadership connection is killed the other leads within seconds', async () => {
    expect(await health(a)).toBe('leader');
    expect(await health(b)).toBe('standby');
    expect(await metric(a, 'wharf_scheduler_leader')).toBe(1);
    expect(await metric(b, 'wharf_scheduler_leader')).toBe(0);
    // the reconcile at election ran on A, not on B
    await waitFor(async () => (await metric(a, 'wharf_reconcile_duration_seconds_count')) >= 1, 10_000, 'reconcile on A');
    expect(await metric(b, 'wharf_reconcile_duration_seconds_count')).toBe(0);

    const client = new pg.Client({ connectionString: a.wharf.deps.config.database.url });
    await client.connect();
    try {
      // The session holding the election's advisory lock (one bigint key: classid, objid, objsubid 1).
      const holder = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND ((classid::bigint << 32) | objid::bigint) = hashtext('wharf.schedulers')::bigint`,
      );
      expect(holder.rows).toHaveLength(1);
      const killedAt = Date.now();
      await client.query('SELECT pg_terminate_backend($1)', [holder.rows[0]!.pid]);
      await waitFor(() => !a.wharf.deps.leadership.leading, 1000, 'A stops leading');
      await waitFor(async () => (await health(b)) === 'leader', 10_000, 'B leads');
      expect(Date.now() - killedAt).toBeLessThan(6000);
      expect(await health(a)).toBe('standby');
      expect(await leaders([a, b])).toBe(1);
      // B's schedulers started with its leadership: its reconcile ran
      await waitFor(async () => (await metric(b, 'wharf_reconcile_duration_seconds_count')) >= 1, 10_000, 'reconcile on B');
      // A stands again and stays standby while B holds the lock
      await new Promise((r) => setTimeout(r, 2500));
      expect(await leaders([a, b])).toBe(1);
      expect(await health(a)).toBe('standby');
    } finally {
      await client.end();
    }
  });

  it('after the leader stops, the other leads within seconds', async () => {
    expect(await health(b)).toBe('leader');
    const stoppedAt = Date.now();
    await b.stop();
    await waitFor(async () => (await health(a)) === 'leader', 10_000, 'A leads again');
    expect(Date.now() - stoppedAt).toBeLessThan(6000);
    expect(await metric(a, 'wharf_scheduler_leader')).toBe(1);
    // and A still serves what B's users need
    expect((await tokenFrom(a, `gina:${PASSWORD}`, 'repository:library/instances:pull')).status).toBe(200);
  });
});

// The other leg: on SQLite the one instance on the file always leads, with no lock to take.
describe.skipIf(onPostgres)('one instance on SQLite', () => {
  it('leads as soon as it starts, and says so in the health answer and the gauge', async () => {
    const w = await startTestWharf(SHARED, { manage: false });
    try {
      expect(w.wharf.deps.leadership.leading).toBe(true);
      expect(await health(w)).toBe('leader');
      expect(await metric(w, 'wharf_scheduler_leader')).toBe(1);
    } finally {
      await w.stop();
    }
    expect(w.wharf.deps.leadership.leading).toBe(false);
  });
});
