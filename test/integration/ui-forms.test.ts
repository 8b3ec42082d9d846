import { contextFor } from '../../src/context';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, listMembers, removeMember, setMember } from '../../src/access/projects';
import { setGroupRole } from '../../src/access/groups';
import { listRobots } from '../../src/access/robots';
import { userPrincipal } from '../../src/identity/authenticate';
import { listPersonalTokens } from '../../src/identity/personal-tokens';
import { createUser, findUser } from '../../src/identity/users';
import { i18n } from '../../ui/i18n';
import { startAppInstance, type AppInstance } from '../support/instance';

/**
 * The web forms and the API share one door: the same input schemas, the same service predicates,
 * the same health. In-process, with no registry: none of this calls it.
 */

const ADMIN_PASSWORD = 'admin-password-1';
let running: AppInstance;
const { t } = i18n('en');
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
const db = () => running.instance.deps.db;
const admin = async () => userPrincipal((await findUser(db(), 'admin'))!, 'password');
const actor = { username: 'admin' };

async function post(pathname: string, fields: Record<string, string | string[]>, as: string) {
  const session = await running.session(as);
  const body = new URLSearchParams({ _csrf: session.csrf });
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  const res = await running.app.request(pathname, {
    method: 'POST',
    headers: { cookie: `wharf_lang=en; ${session.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

async function api(method: string, pathname: string, body?: unknown) {
  const res = await running.app.request(pathname, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  running = await startAppInstance('wharf-ui-forms-', ADMIN_PASSWORD);
  await createUser({ db: db(), actor: actor }, { username: 'bob', password: 'bob-password-1' });
  await createProject(contextFor(running.instance.deps, await admin(), actor), { name: 'team', public: false });
  await setMember(contextFor(running.instance.deps, await admin(), actor), 'team', 'bob', 'projectAdmin');
});

afterAll(async () => {
  await running?.stop();
});

describe('one email rule for the users form and the API', () => {
  it('an address the API refuses is refused by the form too, with the localized reason; nobody is created', async () => {
    for (const [i, email] of ['not-an-email', 'x@localhost'].entries()) {
      expect((await api('POST', '/api/v1/users', { username: `api${i}`, password: 'long-enough-1', email })).status).toBe(400);
      const res = await post('/users', { username: `form${i}`, password: 'long-enough-1', email }, 'admin');
      expect(res.status).toBe(400);
      expect(res.body).toContain(escape(t('err.form.badEmail')));
      expect((await findUser(db(), `form${i}`))).toBeUndefined();
      expect((await findUser(db(), `api${i}`))).toBeUndefined();
    }
    const ok = await post('/users', { username: 'carol', password: 'long-enough-1', email: 'carol@example.org' }, 'admin');
    expect(ok.location).toBe('/users?done=userCreated');
    expect((await findUser(db(), 'carol'))?.email).toBe('carol@example.org');
  });

  it('a password the policy refuses is told as the policy says, not as a schema message', async () => {
    const res = await post('/users', { username: 'dave', password: '', email: '' }, 'admin');
    expect(res.status).toBe(400);
    expect(res.body).toContain(escape(t('err.password.tooShort', { min: 8 })));
    expect((await findUser(db(), 'dave'))).toBeUndefined();
  });
});

describe('one expiresInDays rule for the token and robot forms and the API', () => {
  it('a personal token: out of range or not a whole number is 400 with the range; a good one is created', async () => {
    for (const days of ['0', '1.5', '3651', 'soon']) {
      const res = await post('/account/tokens', { name: `t${days.replace('.', '')}`, expiresInDays: days }, 'bob');
      expect(res.status, days).toBe(400);
      expect(res.body).toContain(escape(t('err.form.badExpiry', { min: 1, max: 3650 })));
    }
    expect((await listPersonalTokens(contextFor(running.instance.deps, await admin(), { username: 'test' }), 'bob'))).toEqual([]);
    expect((await post('/account/tokens', { name: 'laptop', expiresInDays: '30' }, 'bob')).status).toBe(200);
    expect((await listPersonalTokens(contextFor(running.instance.deps, await admin(), { username: 'test' }), 'bob')).map((tok) => tok.name)).toEqual(['laptop']);
  });

  it('a robot: the same rule and the same message; no permissions is its own reason', async () => {
    const refused = await post('/projects/team/robots', { name: 'ci', permissions: 'pull', expiresInDays: '0' }, 'bob');
    expect(refused.status).toBe(400);
    expect(refused.body).toContain(escape(t('err.form.badExpiry', { min: 1, max: 3650 })));
    const none = await post('/projects/team/robots', { name: 'ci' }, 'bob');
    expect(none.status).toBe(400);
    expect(none.body).toContain(escape(t('err.robot.noPermissions')));
    expect((await listRobots(contextFor(running.instance.deps, await admin(), { username: 'test' }), 'team'))).toEqual([]);
    expect((await post('/projects/team/robots', { name: 'ci', permissions: ['pull', 'push'], expiresInDays: '7' }, 'bob')).status).toBe(200);
    expect((await listRobots(contextFor(running.instance.deps, await admin(), { username: 'test' }), 'team')).map((r) => r.permissions)).toEqual([['pull', 'push']]);
  });
});

describe('the project page asks the service whose role is locked', () => {
  it('with a directory group holding projectAdmin (no directory configured), the last direct admin keeps their controls, as the service allows', async () => {
    await createProject(contextFor(running.instance.deps, await admin(), actor), { name: 'grouped', public: false });
    await setMember(contextFor(running.instance.deps, await admin(), actor), 'grouped', 'bob', 'projectAdmin');
    await removeMember(contextFor(running.instance.deps, await admin(), actor), 'grouped', 'admin');
    await setGroupRole(contextFor(running.instance.deps, await admin(), actor), 'grouped', 'ops', 'projectAdmin');
    const session = await running.session('bob');
    const page = await (await running.app.request('/projects/grouped', { headers: { cookie: `wharf_lang=en; ${session.cookie}` } })).text();
    expect(page).not.toContain(t('project.lastAdmin'));
    expect(page).toContain('action="/projects/grouped/members/remove"');
    expect((await post('/projects/grouped/members/remove', { username: 'bob' }, 'bob')).location).toBe('/projects/grouped?done=memberRemoved');
    expect((await listMembers(contextFor(running.instance.deps, await admin(), { username: 'test' }), 'grouped'))).toEqual([]);
  });
});

describe('one health function for the API and the system page', () => {
  it('both report the unreachable registry', async () => {
    const health = await api('GET', '/api/v1/health');
    expect(health.status).toBe(503);
    expect(health.body).toEqual({ status: 'unhealthy', database: 'ok', registry: 'unreachable', ldap: 'disabled', scheduler: 'standby' });
    const session = await running.session('admin');
    const page = await (await running.app.request('/system', { headers: { cookie: `wharf_lang=en; ${session.cookie}` } })).text();
    expect(page).toMatch(/data-health="registry"><span class="badge badge-bad">/);
    expect(page).toMatch(/data-health="database"><span class="badge badge-ok">/);
  });
});
