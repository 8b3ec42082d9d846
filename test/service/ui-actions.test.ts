import { contextFor } from '../../src/context';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapInstance } from '../../src/bootstrap';
import { createUser, findUser } from '../../src/identity/users';
import { userPrincipal } from '../../src/identity/authenticate';
import { verifyPassword } from '../../src/identity/passwords';
import { createProject, listMembers, setMember } from '../../src/access/projects';
import { listGroupRoles, setGroupRole } from '../../src/access/groups';
import { createRobot, listRobots } from '../../src/access/robots';
import { ensureRepository, findRepository, upsertManifest, upsertTag } from '../../src/artifacts/store';
import type { Instance } from '../../src/server';
import { startAppInstance, type AppInstance } from '../support/instance';
import { eq } from 'drizzle-orm';
import { users } from '../support/tables';
import type { Log } from '../../src/log';
import { i18n, LOCALES, type Locale } from '../../ui/i18n';

let running: AppInstance;
let instance: Instance;
let app: AppInstance['app'];
const DIGEST = `sha256:${'b'.repeat(64)}`;
const sessions: Record<string, { cookie: string; csrf: string }> = {};
const actor = { username: 'admin' };

const db = () => instance.deps.db;
const admin = async () => userPrincipal((await findUser(db(), 'admin'))!, 'password');

async function signIn(username: string) {
  sessions[username] = await running.session(username);
}

async function get(pathname: string, as: string, lang: Locale = 'en') {
  const res = await app.request(pathname, { headers: { cookie: `wharf_lang=${lang}; ${sessions[as]!.cookie}` } });
  return { status: res.status, body: await res.text() };
}

async function post(pathname: string, fields: Record<string, string>, as: string, withCsrf = true, lang: Locale = 'en') {
  const body = new URLSearchParams(withCsrf ? { _csrf: sessions[as]!.csrf } : {});
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  const res = await app.request(pathname, {
    method: 'POST',
    headers: { cookie: `wharf_lang=${lang}; ${sessions[as]!.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

beforeAll(async () => {
  running = await startAppInstance('wharf-ui-actions-');
  ({ instance, app } = running);
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await createUser({ db: db(), actor: actor }, { username: u, password: `${u}-password-1` });
  await createUser({ db: db(), actor: actor }, { username: 'ldapuser', source: 'ldap' });
  for (const p of ['team', 'empty']) await createProject(contextFor(instance.deps, await admin(), actor), { name: p, public: false });
  await setMember(contextFor(instance.deps, await admin(), actor), 'team', 'alice', 'guest');
  await setMember(contextFor(instance.deps, await admin(), actor), 'team', 'bob', 'projectAdmin');
  await setMember(contextFor(instance.deps, await admin(), actor), 'empty', 'alice', 'guest');
  await setMember(contextFor(instance.deps, await admin(), actor), 'empty', 'bob', 'projectAdmin');
  await setGroupRole(contextFor(instance.deps, await admin(), actor), 'team', 'ops', 'developer');
  await createRobot(contextFor(instance.deps, await admin(), actor), 'team', { name: 'ci', permissions: ['pull'] });
  for (const name of ['team/app', 'team/web']) {
    const repo = await ensureRepository(db(), name, 'library');
    await upsertManifest(db(), repo.id, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    await upsertTag(db(), repo.id, { name: 'v1', digest: DIGEST, pushedAt: new Date().toISOString(), pushedBy: 'admin' });
  }
  for (const u of ['admin', 'alice', 'bob', 'carol']) await signIn(u);
});

afterAll(async () => {
  await running?.stop();
});

describe('members: a project keeps a project admin; a mistyped name is told on the page', () => {
  it('the last projectAdmin cannot remove or demote themselves; a system admin may; an unknown user is reported inline', async () => {
    await createProject(contextFor(instance.deps, userPrincipal((await findUser(db(), 'bob'))!, 'password'), { username: 'bob' }), { name: 'solo', public: false });
    const { t } = i18n('en');
    const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    // The page offers no control that would be refused: bob's row has no role form and no remove button.
    const page = (await get('/projects/solo', 'bob')).body;
    expect(page).toContain(t('project.lastAdmin'));
    expect(page).not.toContain('action="/projects/solo/members/remove"');
    const removed = await post('/projects/solo/members/remove', { username: 'bob' }, 'bob');
    expect(removed.status).toBe(409);
    expect(removed.body).toContain(escape(t('err.member.lastAdmin', { project: 'solo' })));
    const demoted = await post('/projects/solo/members', { username: 'bob', role: 'guest' }, 'bob');
    expect(demoted.status).toBe(409);
    expect((await listMembers(contextFor(instance.deps, await admin(), { username: 'test' }), 'solo'))).toEqual([expect.objectContaining({ username: 'bob', role: 'projectAdmin' })]);

    const typo = await post('/projects/solo/members', { username: 'nosuchuser', role: 'guest' }, 'bob');
    expect(typo.status).toBe(404);
    expect(typo.body).toContain(escape(t('err.user.notFound', { name: 'nosuchuser' })));
    expect(typo.body).toContain('action="/projects/solo/members"'); // still the project page, with its forms

    // With a second projectAdmin the first may leave; a system admin may remove the last one.
    expect((await post('/projects/solo/members', { username: 'carol', role: 'projectAdmin' }, 'bob')).location).toBe('/projects/solo?done=memberSaved');
    expect((await get('/projects/solo', 'bob')).body.match(/action="\/projects\/solo\/members\/remove"/g)).toHaveLength(2);
    expect((await post('/projects/solo/members/remove', { username: 'bob' }, 'bob')).location).toBe('/projects/solo?done=memberRemoved');
    expect((await post('/projects/solo/members/remove', { username: 'carol' }, 'admin')).location).toBe('/projects/solo?done=memberRemoved');
    expect((await listMembers(contextFor(instance.deps, await admin(), { username: 'test' }), 'solo'))).toEqual([]);
  });
});

describe('reserved names in an existing database', () => {
  it('an old account named like a non-user actor is reported at start, and nothing else changes', async () => {
    await db().insert(users).values({ username: 'System', source: 'local' });
    const warnings: unknown[] = [];
    const log = { warn: (obj: unknown) => warnings.push(obj), info: () => {} } as unknown as Log;
    await bootstrapInstance({ db: db(), config: instance.deps.config, log }, () => {});
    expect(warnings).toEqual([{ username: 'System' }]);
    expect((await findUser(db(), 'System'))).toBeTruthy();
    await db().delete(users).where(eq(users.username, 'System'));
  });
});

describe('who belongs to a project is shown to its members and admins only', () => {
  it('a public project shows its repositories to everyone, its members only to members and admins', async () => {
    await createProject(contextFor(instance.deps, await admin(), actor), { name: 'openp', public: true });
    await setMember(contextFor(instance.deps, await admin(), actor), 'openp', 'bob', 'developer');
    const anonymous = await app.request('/projects/openp', { headers: { cookie: 'wharf_lang=en' } });
    const anonymousBody = await anonymous.text();
    expect(anonymous.status).toBe(200);
    const outsider = await get('/projects/openp', 'carol');
    expect(outsider.status).toBe(200);
    for (const body of [anonymousBody, outsider.body]) {
      expect(body).toContain('openp');
      expect(body).not.toContain('<td>bob</td>');
      expect(body).not.toContain('Members');
    }
    for (const who of ['bob', 'admin']) {
      const page = await get('/projects/openp', who);
      expect(page.body).toContain('<td>bob</td>');
      expect(page.body).toContain('Members');
    }
  });
});

describe('users page: reset password and delete (system admins)', () => {
  it('the admin sees the controls; a non-admin is refused and nothing changes', async () => {
    const page = await get('/users', 'admin');
    expect(page.body).toContain('action="/users/dave/password"');
    expect(page.body).toContain('href="/users/dave/delete"');
    expect(page.body).not.toContain('action="/users/ldapuser/password"');
    expect((await get('/users/dave/delete', 'alice')).status).toBe(403);
    expect((await post('/users/dave/password', { newPassword: 'hijacked-pass-1' }, 'alice')).status).toBe(403);
    expect((await post('/users/dave/delete', {}, 'alice')).status).toBe(403);
    expect(await verifyPassword('dave-password-1', (await findUser(db(), 'dave'))!.passwordHash!)).toBe(true);
    expect((await findUser(db(), 'dave'))).toBeTruthy();
  });

  it('without the CSRF token nothing changes', async () => {
    expect((await post('/users/dave/password', { newPassword: 'forged-pass-1' }, 'admin', false)).status).toBe(403);
    expect((await post('/users/dave/delete', {}, 'admin', false)).status).toBe(403);
    expect(await verifyPassword('dave-password-1', (await findUser(db(), 'dave'))!.passwordHash!)).toBe(true);
    expect((await findUser(db(), 'dave'))).toBeTruthy();
  });

  it("the admin resets another user's password; a directory user answers 409 with the reason", async () => {
    const res = await post('/users/dave/password', { newPassword: 'new-dave-pass-1' }, 'admin');
    expect(res.location).toBe('/users?done=passwordReset');
    expect(await verifyPassword('new-dave-pass-1', (await findUser(db(), 'dave'))!.passwordHash!)).toBe(true);
    expect((await get('/users?done=passwordReset', 'admin')).body).toContain('Password reset.');
    const ldap = await post('/users/ldapuser/password', { newPassword: 'whatever-pass-1' }, 'admin');
    expect(ldap.status).toBe(409);
    expect(ldap.body).toContain('alert-error');
    expect(ldap.body).toContain('changed in the directory');
    expect((await post('/users/dave/password', { newPassword: 'short' }, 'admin')).status).toBe(400);
    expect((await post('/users/nobody/password', { newPassword: 'long-enough-1' }, 'admin')).status).toBe(404);
  });

  it('the admin deletes a user after a confirmation page; never themselves', async () => {
    const confirm = await get('/users/erin/delete', 'admin');
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Delete this user?');
    expect(confirm.body).toContain('action="/users/erin/delete"');
    expect(confirm.body).toContain('name="_csrf"');
    const res = await post('/users/erin/delete', {}, 'admin');
    expect(res.location).toBe('/users?done=userDeleted');
    expect((await findUser(db(), 'erin'))).toBeFalsy();
    const self = await post('/users/admin/delete', {}, 'admin');
    expect(self.status).toBe(409);
    expect(self.body).toContain('cannot delete yourself');
    expect((await get('/users/nobody/delete', 'admin')).status).toBe(404);
  });
});

describe('project page: groups, robots, deletion', () => {
  it('a project admin sees the controls; a guest does not', async () => {
    const mine = (await get('/projects/team', 'bob')).body;
    expect(mine).toContain('action="/projects/team/robots/update"');
    // The delete button is offered only for a project that can be deleted: empty, not the default.
    expect(mine).not.toContain('href="/projects/team/delete"');
    expect((await get('/projects/empty', 'bob')).body).toContain('href="/projects/empty/delete"');
    expect((await get('/projects/library', 'admin')).body).not.toContain('href="/projects/library/delete"');
    expect((await get('/projects/team/delete', 'bob')).status).toBe(409);
    expect((await get('/projects/library/delete', 'admin')).status).toBe(409);
    const guest = (await get('/projects/team', 'alice')).body;
    expect(guest).not.toContain('/robots/update');
    expect(guest).not.toContain('/groups');
    expect(guest).not.toContain('/projects/team/delete');
  });

  it('group roles: set and removed by a project admin, refused for a guest, an outsider and without CSRF', async () => {
    expect((await post('/projects/team/groups', { group: 'ops', role: 'guest' }, 'alice')).status).toBe(403);
    expect((await post('/projects/team/groups', { group: 'ops', role: 'guest' }, 'carol')).status).toBe(404);
    expect((await post('/projects/team/groups/remove', { group: 'ops' }, 'alice')).status).toBe(403);
    expect((await post('/projects/team/groups', { group: 'ops', role: 'guest' }, 'bob', false)).status).toBe(403);
    expect((await listGroupRoles(contextFor(instance.deps, await admin(), { username: 'test' }), 'team'))).toEqual([{ group: 'ops', role: 'developer' }].map((g) => expect.objectContaining(g)));
    let res = await post('/projects/team/groups', { group: 'ops', role: 'projectAdmin' }, 'bob');
    expect(res.location).toBe('/projects/team?done=groupSaved');
    res = await post('/projects/team/groups', { group: 'devs', role: 'guest' }, 'bob');
    expect(res.status).toBe(303);
    expect((await listGroupRoles(contextFor(instance.deps, await admin(), { username: 'test' }), 'team')).map((g) => [g.group, g.role])).toEqual([
      ['devs', 'guest'],
      ['ops', 'projectAdmin'],
    ]);
    expect((await post('/projects/team/groups', { group: 'ops', role: 'owner' }, 'bob')).status).toBe(400);
    res = await post('/projects/team/groups/remove', { group: 'devs' }, 'bob');
    expect(res.location).toBe('/projects/team?done=groupRemoved');
    expect((await listGroupRoles(contextFor(instance.deps, await admin(), { username: 'test' }), 'team')).map((g) => g.group)).toEqual(['ops']);
    expect((await post('/projects/team/groups/remove', { group: 'devs' }, 'bob')).status).toBe(404);
  });

  it('with a directory configured, group roles get set and remove forms for a project admin only', async () => {
    const ldap = instance.deps.config.ldap as { url: string | null };
    const before = ldap.url;
    ldap.url = 'ldap://directory.invalid';
    try {
      const mine = (await get('/projects/team', 'bob')).body;
      expect(mine).toContain('action="/projects/team/groups"');
      expect(mine).toContain('action="/projects/team/groups/remove"');
      const guest = (await get('/projects/team', 'alice')).body;
      expect(guest).toContain('<td>ops</td>');
      expect(guest).not.toContain('/projects/team/groups');
    } finally {
      ldap.url = before;
    }
  });

  it('a robot is disabled and enabled again by a project admin; a guest and a forged form are refused', async () => {
    const disabled = async () => (await listRobots(contextFor(instance.deps, await admin(), { username: 'test' }), 'team')).find((r) => r.name === 'robot$team+ci')!.disabled;
    expect((await post('/projects/team/robots/update', { robot: 'robot$team+ci', disabled: 'true' }, 'alice')).status).toBe(403);
    expect((await post('/projects/team/robots/update', { robot: 'robot$team+ci', disabled: 'true' }, 'carol')).status).toBe(404);
    expect((await post('/projects/team/robots/update', { robot: 'robot$team+ci', disabled: 'true' }, 'bob', false)).status).toBe(403);
    expect((await disabled())).toBe(false);
    const res = await post('/projects/team/robots/update', { robot: 'robot$team+ci', disabled: 'true' }, 'bob');
    expect(res.location).toBe('/projects/team?done=robotUpdated');
    expect((await disabled())).toBe(true);
    expect((await get('/projects/team', 'bob')).body).toMatch(/name="disabled" value="false"/);
    await post('/projects/team/robots/update', { robot: 'robot$team+ci', disabled: 'false' }, 'bob');
    expect((await disabled())).toBe(false);
  });

  it('a project is deleted only when empty, only by who manages it', async () => {
    expect((await get('/projects/empty/delete', 'alice')).status).toBe(403);
    expect((await get('/projects/empty/delete', 'carol')).status).toBe(404);
    expect((await post('/projects/empty/delete', {}, 'alice')).status).toBe(403);
    expect((await post('/projects/empty/delete', {}, 'carol')).status).toBe(404);
    expect((await post('/projects/empty/delete', {}, 'bob', false)).status).toBe(403);
    expect((await get('/projects/empty', 'admin')).status).toBe(200);
    const full = await post('/projects/team/delete', {}, 'bob');
    expect(full.status).toBe(409);
    expect(full.body).toContain('still has 2 repositories');
    const confirm = await get('/projects/empty/delete', 'bob');
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Delete this project?');
    expect(confirm.body).toContain('action="/projects/empty/delete"');
    const res = await post('/projects/empty/delete', {}, 'bob');
    expect(res.location).toBe('/projects?done=projectDeleted');
    expect((await get('/projects/empty', 'admin')).status).toBe(404);
  });

  it("a service's refusal is told in the visitor's language, never in the API's English", async () => {
    const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    for (const lang of LOCALES) {
      const { t } = i18n(lang);
      const full = await post('/projects/team/delete', {}, 'bob', true, lang);
      expect(full.status).toBe(409);
      expect(full.body).toContain(escape(t('err.project.notEmpty', { name: 'team', count: 2 })));
      const missing = await get('/projects/no-such-project', 'bob', lang);
      expect(missing.status).toBe(404);
      expect(missing.body).toContain(escape(t('err.project.notFound', { name: 'no-such-project' })));
      const badRole = await post('/projects/team/members', { username: 'carol', role: 'owner' }, 'bob', true, lang);
      expect(badRole.status).toBe(400);
      expect(badRole.body).toContain(escape(t('err.form.unknownRole')));
      if (lang === 'en') continue;
      for (const body of [full.body, missing.body, badRole.body]) {
        expect(body).not.toContain('delete them first');
        expect(body).not.toContain('not found');
        expect(body).not.toContain('unknown role');
      }
    }
  });
});

describe('repository page: delete the whole repository', () => {
  it('only those who may delete see it; a guest, an outsider and a forged form are refused', async () => {
    expect((await get('/repositories/team/app', 'bob')).body).toContain('href="/delete/repository?repository=team%2Fapp"');
    expect((await get('/repositories/team/app', 'alice')).body).not.toContain('/delete/repository');
    expect((await get('/delete/repository?repository=team%2Fapp', 'alice')).status).toBe(403);
    expect((await get('/delete/repository?repository=team%2Fapp', 'carol')).status).toBe(404);
    expect((await post('/delete/repository', { repository: 'team/app' }, 'alice')).status).toBe(403);
    expect((await post('/delete/repository', { repository: 'team/app' }, 'carol')).status).toBe(404);
    expect((await post('/delete/repository', { repository: 'team/app' }, 'bob', false)).status).toBe(403);
    expect((await findRepository(db(), 'team/app'))).toBeTruthy();
  });

  // The deletion itself, against a real registry: test/integration/ui-delete-repository.test.ts.
  it('a project admin gets a confirmation page', async () => {
    const confirm = await get('/delete/repository?repository=team%2Fapp', 'bob');
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Delete this repository?');
    expect(confirm.body).toContain('name="repository" value="team/app"');
  });
});
