import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Child } from 'hono/jsx';
import { getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { listGroupRoles, removeGroupRole, setGroupRole } from '../src/access/groups';
import { createRobot, deleteRobot, listRobots, updateRobot } from '../src/access/robots';
import { assertDeletable, createProjectReportingLeftovers, deleteProject, listMembers, listProjects, removeMember, repositoryCount, seesMembers, setMember, updateProject, visibleProject } from '../src/access/projects';
import { repositoryActions } from '../src/access/resolve';
import { isValidRepositoryName, REPOSITORY_ACTIONS, ROLES, type RepositoryAction, type Role } from '../src/access/roles';
import { deleteImage, deleteRepository, deleteTag, taggedParents, type DeleteDeps } from '../src/artifacts/delete';
import { listTags, visibleRepository } from '../src/artifacts/list';
import { listRepositories } from '../src/artifacts/list';
import { findRepository, tagsOfDigest } from '../src/artifacts/state';
import { listAudit } from '../src/audit/list';
import { recordAudit } from '../src/audit/record';
import { AppError, badRequest, fail, forbidden, notFound, unauthorized } from '../src/errors';
import { REGISTRY_DIGEST_RE, TAG_RE } from '../src/events/envelope';
import { actorOf, clientIp, type AppContext, type AppEnv } from '../src/http/env';
import { limitBody } from '../src/http/limits';
import { packageFile } from '../src/package-files';
import { isUiPath } from './paths';
import { clearSessionCookie, SESSION_COOKIE, sessionMiddleware, setSessionCookie } from '../src/http/session';
import { authenticatePassword, userPrincipal } from '../src/identity/authenticate';
import { anonymous, type Principal } from '../src/identity/principal';
import { createSession, deleteSession } from '../src/identity/sessions';
import { createPersonalToken, deletePersonalToken, listPersonalTokens } from '../src/identity/tokens';
import { changePassword, createUser, deleteUser, getUser, listUsers, updateUser } from '../src/identity/users';
import { RegistryError } from '../src/registry/client';
import { isStorageFailure, storageFull } from '../src/db/storage';
import { chooseLocale, i18n, isLocale, LANG_COOKIE, type MessageKey } from './i18n';
import { AccountPage } from './pages/account';
import { AUDIT_ACTIONS, AuditPage, type AuditFilters } from './pages/audit';
import { ConfirmPage } from './pages/confirm';
import { ErrorPage } from './pages/error';
import { LoginPage } from './pages/login';
import { ProjectPage } from './pages/project';
import { ProjectsPage } from './pages/projects';
import { ConfirmDeletePage, RepositoryPage, repositoryHref, type TagRow } from './pages/repository';
import { SystemPage } from './pages/system';
import { UsersPage } from './pages/users';
import { localPath, registryHost, UI_PAGE_SIZE, type View } from './view';

/** Double-submit token for the forms of visitors without a session (sign in, language). */
const PRE_CSRF_COOKIE = 'wharf_csrf';

/** No inline script or style anywhere: the stylesheet and the one script come from /ui/static. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const STATIC_FILES: Record<string, { type: string; body: Buffer }> = Object.fromEntries(
  (
    [
      ['wharf.css', 'text/css; charset=utf-8'],
      ['wharf.js', 'text/javascript; charset=utf-8'],
    ] as const
  ).map(([name, type]) => [name, { type, body: readFileSync(packageFile('ui', 'static', name)) }]),
);


/** Thrown by pages that need a signed-in user; becomes a redirect to the sign-in page. */
class SignInRequired extends Error {}

const NOTICES: Record<string, MessageKey> = {
  projectCreated: 'notice.projectCreated',
  projectCreatedLeftovers: 'notice.projectCreated',
  memberSaved: 'notice.memberSaved',
  memberRemoved: 'notice.memberRemoved',
  visibilitySaved: 'notice.visibilitySaved',
  tagDeleted: 'notice.tagDeleted',
  imageDeleted: 'notice.imageDeleted',
  userCreated: 'notice.userCreated',
  userUpdated: 'notice.userUpdated',
  tokenRevoked: 'notice.tokenRevoked',
  passwordChanged: 'notice.passwordChanged',
  reconcileStarted: 'notice.reconcileStarted',
  robotDeleted: 'notice.robotDeleted',
  robotUpdated: 'notice.robotUpdated',
  groupSaved: 'notice.groupSaved',
  groupRemoved: 'notice.groupRemoved',
  projectDeleted: 'notice.projectDeleted',
  repositoryDeleted: 'notice.repositoryDeleted',
  userDeleted: 'notice.userDeleted',
  passwordReset: 'notice.passwordReset',
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const isSecure = (c: AppContext) => c.var.deps.config.publicUrl.startsWith('https:') || new URL(c.req.url).protocol === 'https:';

/** The pre-session CSRF token of this browser, minted (and set as a cookie) on first use. */
function preCsrfToken(c: AppContext): string {
  const existing = getCookie(c, PRE_CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return existing;
  const token = randomBytes(24).toString('base64url');
  setCookie(c, PRE_CSRF_COOKIE, token, { httpOnly: true, sameSite: 'Strict', secure: isSecure(c), path: '/' });
  return token;
}

function view(c: AppContext, here?: string): View {
  const locale = chooseLocale(getCookie(c, LANG_COOKIE), c.req.header('accept-language'));
  const principal: Principal = c.var.principal ?? anonymous;
  const url = new URL(c.req.url);
  return {
    i18n: i18n(locale),
    principal,
    csrf: principal.kind === 'user' ? c.var.csrfToken : preCsrfToken(c),
    here: localPath(here ?? url.pathname + url.search),
  };
}

function render(c: AppContext, page: Child, status: ContentfulStatusCode = 200) {
  return c.html(html`<!DOCTYPE html>${page}`, status);
}

function signedInUser(c: AppContext): Extract<Principal, { kind: 'user' }> {
  const p = c.var.principal;
  if (p?.kind !== 'user') {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') throw new SignInRequired();
    throw unauthorized('auth.signInFirst');
  }
  return p;
}

function adminUser(c: AppContext) {
  const p = signedInUser(c);
  if (!p.admin) throw forbidden('auth.adminOnly');
  return p;
}

const pageOf = (c: AppContext) => {
  const n = Number(c.req.query('page'));
  return Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? n : 1;
};
const queryText = (c: AppContext, name: string, max = 255) => (c.req.query(name) ?? '').trim().slice(0, max);

type Form = Record<string, string | File | (string | File)[]>;
async function formOf(c: AppContext): Promise<Form> {
  return (await c.req.parseBody({ all: true }).catch(() => ({}))) as Form;
}
/** One text field of a form; a field sent twice counts as missing. */
const field = (form: Form, name: string) => {
  const v = form[name];
  return typeof v === 'string' ? v : '';
};

/** The `role` field of a member or group form; 400 for anything but a known role. */
function formRole(form: Form): Role {
  const role = field(form, 'role');
  if (!(ROLES as readonly string[]).includes(role)) throw badRequest('form.unknownRole');
  return role as Role;
}

function noticeOf(c: AppContext, v: View): string | null {
  const done = c.req.query('done') ?? '';
  return Object.hasOwn(NOTICES, done) ? v.i18n.t(NOTICES[done]!) : null;
}

/** A service error as a line for the page, in the visitor's language: its own message if it has a key, else a lead-in by status. */
function errorText(v: View, err: unknown): string {
  if (!(err instanceof AppError)) throw err;
  return localizedError(v, err) ?? v.i18n.t(STATUS_TITLES[err.status] ?? 'error.generic');
}

const STATUS_TITLES: Record<number, MessageKey> = {
  400: 'error.invalid',
  401: 'error.signIn',
  403: 'error.forbidden',
  404: 'error.notFound',
  409: 'error.conflict',
  413: 'error.tooLarge',
  429: 'error.throttled',
  503: 'error.unavailable',
};

/** The error's own message in the visitor's language, or null for an error without a key. */
const localizedError = (v: View, err: AppError): string | null => (err.key ? v.i18n.t(`err.${err.key}`, err.params) : null);

/** The project itself is missing (or invisible): its page cannot be shown again, so the 404 page instead. */
const projectGone = (err: unknown) => err instanceof AppError && err.key === 'project.notFound';

const statusOf = (err: unknown): ContentfulStatusCode => (err instanceof AppError ? (err.status as ContentfulStatusCode) : 500);

const deleteDeps = (c: AppContext): DeleteDeps => ({
  db: c.var.deps.db,
  registry: c.var.deps.registry,
  defaultProject: c.var.deps.config.defaultProject.name,
});

const mayDelete = (c: AppContext, repository: string) =>
  c.var.principal.kind === 'user' && repositoryActions(c.var.deps.db, c.var.principal, repository, c.var.deps.config.defaultProject.name).includes('delete');

const pullHost = (c: AppContext) => registryHost(c.var.deps.config, c.req.header('host'));

/** Headers of every page: the CSP, no framing, no sniffing, no caching of pages that show secrets. */
const pageHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('X-Frame-Options', 'DENY');
  c.header('Referrer-Policy', 'same-origin');
  if (!c.req.path.startsWith('/ui/static/')) {
    c.header('Cache-Control', 'no-store');
    c.header('Vary', 'Cookie, Accept-Language');
  }
};

/** Visitors without a session post only with the double-submit token (sign-in CSRF, language). */
const anonymousCsrf: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'POST' || c.var.principal.kind === 'user' || c.req.path === '/logout') return next();
  const presented = field(await formOf(c), '_csrf') || c.req.header('x-csrf-token') || '';
  if (!sameSecret(presented, getCookie(c, PRE_CSRF_COOKIE) ?? '')) throw fail(403, 'csrf', 'csrf');
  return next();
};

const onlyUiPaths =
  (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> =>
  (c, next) =>
    isUiPath(c.req.path) && !c.req.path.startsWith('/ui/static/') ? mw(c, next) : next();

export function uiRoutes(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.onError((err, c) => {
    if (err instanceof SignInRequired) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?${new URLSearchParams({ next: url.pathname + url.search }).toString()}`, 303);
    }
    // After a refused POST the language selector returns to a page that can be shown again.
    const v = view(c, c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : '/projects');
    const { t } = v.i18n;
    if (isStorageFailure(err)) {
      c.var.deps?.storageAlarm.report(err, c.req.path);
      const full = storageFull();
      return render(c, <ErrorPage v={v} title={t('error.unavailable')} detail={localizedError(v, full) ?? undefined} />, 503);
    }
    if (err instanceof AppError) {
      const detail = localizedError(v, err) ?? undefined;
      return render(c, <ErrorPage v={v} title={t(STATUS_TITLES[err.status] ?? 'error.generic')} detail={detail} />, err.status as ContentfulStatusCode);
    }
    if (err instanceof RegistryError) {
      c.var.deps?.log.warn({ err: err.message, path: c.req.path }, 'registry call failed');
      return render(c, <ErrorPage v={v} title={t('error.unavailable')} detail={t('error.registryDown')} />, 503);
    }
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      return render(c, <ErrorPage v={v} title={t(status === 413 ? 'error.tooLarge' : status < 500 ? 'error.invalid' : 'error.generic')} />, status);
    }
    c.var.deps?.log.error({ err: { message: err.message, stack: err.stack }, path: c.req.path }, 'unhandled error in a page');
    return render(c, <ErrorPage v={v} title={t('error.generic')} detail={t('error.internal')} />, 500);
  });

  ui.use('*', onlyUiPaths(pageHeaders));
  for (const mw of limitBody(64 * 1024, (headers) => fail(413, 'payload_too_large', 'form.tooLarge', {}, headers))) ui.use('*', onlyUiPaths(mw));
  ui.use('*', onlyUiPaths(sessionMiddleware));
  ui.use('*', onlyUiPaths(anonymousCsrf));

  ui.get('/ui/static/:file', (c) => {
    const name = c.req.param('file');
    const file = Object.hasOwn(STATIC_FILES, name) ? STATIC_FILES[name] : undefined;
    if (!file) return c.notFound();
    return c.body(new Uint8Array(file.body), 200, {
      'Content-Type': file.type,
      'Cache-Control': 'public, max-age=3600',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  ui.get('/', (c) => c.redirect('/projects', 303));

  // ---- language ----
  ui.post('/lang', async (c) => {
    const form = await formOf(c);
    const lang = field(form, 'lang');
    if (isLocale(lang))
      setCookie(c, LANG_COOKIE, lang, { path: '/', sameSite: 'Lax', httpOnly: true, secure: isSecure(c), maxAge: 365 * 86_400 });
    return c.redirect(localPath(field(form, 'return')), 303);
  });

  // ---- sign in / out ----
  ui.get('/login', (c) => {
    const next = localPath(c.req.query('next'), '');
    if (c.var.principal.kind === 'user') return c.redirect(next || '/projects', 303);
    return render(c, <LoginPage v={view(c)} next={next} />);
  });

  ui.post('/login', async (c) => {
    const form = await formOf(c);
    const username = field(form, 'username').trim();
    const password = field(form, 'password');
    const next = localPath(field(form, 'next'), '');
    const v = view(c, next ? `/login?${new URLSearchParams({ next })}` : '/login');
    const refuse = (key: MessageKey, status: ContentfulStatusCode) =>
      render(c, <LoginPage v={v} username={username} next={next} error={v.i18n.t(key)} />, status);
    if (!username || !password) return refuse('login.missing', 400);
    // Robot accounts are for the registry and scripts; they never get a browser session.
    if (username.startsWith('robot$')) return refuse('login.robotRefused', 403);
    const ctx = { ip: clientIp(c), userAgent: c.req.header('user-agent') ?? null };
    let principal: Principal;
    try {
      principal = await authenticatePassword(c.var.deps, username, password, ctx);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.status === 429) return refuse('login.throttled', 429);
      if (err.status === 503) return refuse('login.directoryDown', 503);
      return refuse('login.invalid', 401);
    }
    if (principal.kind !== 'user') return refuse('login.robotRefused', 403);
    // A personal access token is a credential for scripts; a browser session needs the password.
    if (principal.via === 'token') return refuse('login.tokenRefused', 403);
    const session = createSession(c.var.deps, principal, ctx);
    setSessionCookie(c, session.cookieValue, session.expiresAt);
    return c.redirect(next || '/projects', 303);
  });

  ui.post('/logout', (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    const principal = c.var.principal;
    if (cookie) deleteSession(c.var.deps, cookie, principal.kind === 'user' ? { username: principal.username, ip: clientIp(c) } : undefined);
    clearSessionCookie(c);
    return c.redirect('/login', 303);
  });

  // ---- projects ----
  const projectsPage = (c: AppContext, extra: { error?: string; draft?: { name: string; public: boolean }; status?: ContentfulStatusCode } = {}) => {
    const { db } = c.var.deps;
    const v = view(c, extra.error ? '/projects' : undefined);
    const q = queryText(c, 'q');
    const page = pageOf(c);
    const { items, total } = listProjects(db, c.var.principal, { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    const rows = items.map(({ project, role }) => ({
      name: project.name,
      public: project.public,
      role,
      createdBy: project.createdBy,
      createdAt: project.createdAt,
      repositoryCount: repositoryCount(db, project.id),
    }));
    return render(
      c,
      <ProjectsPage v={v} items={rows} total={total} q={q} page={page} pageSize={UI_PAGE_SIZE} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />,
      extra.status,
    );
  };

  ui.get('/projects', (c) => projectsPage(c));

  ui.post('/projects', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    const draft = { name: field(form, 'name').trim(), public: field(form, 'public') === 'true' };
    let leftovers: string[] | null;
    try {
      leftovers = (await createProjectReportingLeftovers(c.var.deps, principal, draft, actorOf(c))).leftoverRepositories;
    } catch (err) {
      return projectsPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect(`/projects/${encodeURIComponent(draft.name)}?done=${leftovers?.length ? 'projectCreatedLeftovers' : 'projectCreated'}`, 303);
  });

  const projectPage = (
    c: AppContext,
    name: string,
    extra: { error?: string; status?: ContentfulStatusCode; createdRobot?: { name: string; secret: string }; leftovers?: string[] } = {},
  ) => {
    const { db, config } = c.var.deps;
    const principal = c.var.principal;
    const base = `/projects/${encodeURIComponent(name)}`;
    const v = view(c, extra.error || extra.createdRobot ? base : undefined);
    const access = visibleProject(db, principal, name);
    const manages = access.canManage && principal.kind === 'user';
    const page = pageOf(c);
    const repos = listRepositories(db, principal, { project: name, page, pageSize: UI_PAGE_SIZE });
    return render(
      c,
      <ProjectPage
        v={v}
        project={access.project}
        role={access.role}
        canManage={manages}
        repositories={repos.items}
        repositoryTotal={repos.total}
        deletable={repos.total === 0 && name !== config.defaultProject.name}
        page={page}
        pageSize={UI_PAGE_SIZE}
        members={seesMembers(principal, access) ? listMembers(db, principal, name) : null}
        groups={config.ldap.url && seesMembers(principal, access) ? listGroupRoles(db, principal, name) : []}
        ldap={!!config.ldap.url}
        registryHost={pullHost(c)}
        robots={manages ? listRobots(db, principal, name) : null}
        createdRobot={extra.createdRobot}
        error={extra.error}
        notice={noticeOf(c, v)}
        warning={extra.leftovers?.length ? v.i18n.t('notice.leftoverRepositories', { count: extra.leftovers.length, names: extra.leftovers.join(', ') }) : null}
      />,
      extra.status,
    );
  };

  ui.get('/projects/:name', async (c) => {
    const name = c.req.param('name');
    // Right after creating: what the registry still holds under the name, asked again rather than taken from the link.
    if (c.req.query('done') !== 'projectCreatedLeftovers' || c.var.principal.kind !== 'user') return projectPage(c, name);
    visibleProject(c.var.deps.db, c.var.principal, name);
    const leftovers = await c.var.deps.registry.catalogUnder(`${name}/`).catch(() => []);
    return projectPage(c, name, { leftovers });
  });

  /** Runs a project form's action; on refusal shows the project page again with the reason. */
  const projectAction = (path: string, action: (c: AppContext, name: string, form: Form) => void, done: string) =>
    ui.post(path, async (c) => {
      signedInUser(c);
      const name = c.req.param('name')!;
      const form = await formOf(c);
      try {
        action(c, name, form);
      } catch (err) {
        if (projectGone(err)) throw err;
        return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
      }
      return c.redirect(`/projects/${encodeURIComponent(name)}?done=${done}`, 303);
    });

  projectAction(
    '/projects/:name/members',
    (c, name, form) => {
      setMember(c.var.deps.db, c.var.principal, name, field(form, 'username').trim(), formRole(form), actorOf(c));
    },
    'memberSaved',
  );
  projectAction(
    '/projects/:name/members/remove',
    (c, name, form) => removeMember(c.var.deps.db, c.var.principal, name, field(form, 'username'), actorOf(c)),
    'memberRemoved',
  );
  projectAction(
    '/projects/:name/visibility',
    (c, name, form) => updateProject(c.var.deps.db, c.var.principal, name, { public: field(form, 'public') === 'true' }, actorOf(c)),
    'visibilitySaved',
  );

  projectAction(
    '/projects/:name/robots/delete',
    (c, name, form) => deleteRobot(c.var.deps.db, c.var.principal, name, field(form, 'robot'), actorOf(c)),
    'robotDeleted',
  );

  projectAction(
    '/projects/:name/robots/update',
    (c, name, form) => {
      const disabled = field(form, 'disabled');
      if (disabled !== 'true' && disabled !== 'false') throw badRequest('form.nothingToChange');
      updateRobot(c.var.deps.db, c.var.principal, name, field(form, 'robot'), { disabled: disabled === 'true' }, actorOf(c));
    },
    'robotUpdated',
  );

  projectAction(
    '/projects/:name/groups',
    (c, name, form) => {
      setGroupRole(c.var.deps.db, c.var.principal, name, field(form, 'group').trim(), formRole(form), actorOf(c));
    },
    'groupSaved',
  );
  projectAction(
    '/projects/:name/groups/remove',
    (c, name, form) => removeGroupRole(c.var.deps.db, c.var.principal, name, field(form, 'group'), actorOf(c)),
    'groupRemoved',
  );

  /** The second step before a project is deleted: only for those who manage it. */
  ui.get('/projects/:name/delete', (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const access = visibleProject(c.var.deps.db, c.var.principal, name);
    if (!access.canManage) throw forbidden('project.deleteNeedsAdmin');
    assertDeletable(c.var.deps.db, access.project, c.var.deps.config.defaultProject.name);
    const v = view(c);
    const { t } = v.i18n;
    const base = `/projects/${encodeURIComponent(name)}`;
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="projects"
        title={t('delete.projectTitle')}
        facts={[[t('projects.name'), name]]}
        warning={t('delete.projectWarning')}
        action={`${base}/delete`}
        fields={{}}
        button={t('delete.confirmProject')}
        back={base}
      />,
    );
  });

  ui.post('/projects/:name/delete', async (c) => {
    const principal = signedInUser(c);
    const name = c.req.param('name');
    const { db, config } = c.var.deps;
    try {
      deleteProject(db, principal, name, config.defaultProject.name, actorOf(c));
    } catch (err) {
      if (projectGone(err)) throw err;
      return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/projects?done=projectDeleted', 303);
  });

  ui.post('/projects/:name/robots', async (c) => {
    const principal = signedInUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    const wanted = (Array.isArray(form.permissions) ? form.permissions : [form.permissions]).filter((p): p is string => typeof p === 'string');
    const permissions = REPOSITORY_ACTIONS.filter((a) => wanted.includes(a)) as RepositoryAction[];
    const days = field(form, 'expiresInDays').trim();
    try {
      const expiresInDays = days ? Number(days) : undefined;
      if (expiresInDays !== undefined && (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > 3650))
        throw badRequest('form.badExpiry', { min: 1, max: 3650 });
      const { db, clock } = c.var.deps;
      const created = createRobot(db, clock, principal, name, { name: field(form, 'name').trim(), permissions, ...(expiresInDays ? { expiresInDays } : {}) }, actorOf(c));
      // The secret is in this response only.
      return projectPage(c, name, { createdRobot: { name: created.name, secret: created.secret } });
    } catch (err) {
      if (projectGone(err)) throw err;
      return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
    }
  });

  // ---- repositories and deletion ----
  ui.get('/repositories/:name{.+}', (c) => {
    const name = c.req.param('name');
    if (!isValidRepositoryName(name)) throw notFound('repository.notFound', { name });
    const { db } = c.var.deps;
    const v = view(c);
    const { repository, projectName } = visibleRepository(db, c.var.principal, name);
    const q = queryText(c, 'q', 128);
    const page = pageOf(c);
    const { items, total } = listTags(db, c.var.principal, name, { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    return render(
      c,
      <RepositoryPage
        v={v}
        name={name}
        project={projectName}
        tags={items as TagRow[]}
        total={total}
        q={q}
        page={page}
        pageSize={UI_PAGE_SIZE}
        canDelete={mayDelete(c, name)}
        registryHost={pullHost(c)}
        pullCount={repository.pullCount}
        lastPulledAt={repository.lastPulledAt}
        notice={noticeOf(c, v)}
      />,
    );
  });

  /** The repository of a delete form or confirmation, checked: visible, and the caller may delete there. */
  const deletable = (c: AppContext, name: string) => {
    signedInUser(c);
    if (!isValidRepositoryName(name)) throw notFound('repository.notFound', { name });
    const access = visibleRepository(c.var.deps.db, c.var.principal, name);
    if (!mayDelete(c, name)) throw forbidden('delete.roleNeeded');
    return access;
  };

  const afterDelete = (c: AppContext, name: string, done: string, project: string) =>
    c.redirect(
      findRepository(c.var.deps.db, name) ? `${repositoryHref(name)}?done=${done}` : `/projects/${encodeURIComponent(project)}?done=${done}`,
      303,
    );

  ui.get('/delete/tag', (c) => {
    const name = c.req.query('repository') ?? '';
    const tag = c.req.query('tag') ?? '';
    const { repository } = deletable(c, name);
    if (!TAG_RE.test(tag)) throw notFound('tag.notFound', { tag, repository: name });
    const known = listTags(c.var.deps.db, c.var.principal, name, { q: tag, page: 1, pageSize: 500 }).items.find((t) => t.name === tag);
    if (!known) throw notFound('tag.notFound', { tag, repository: name });
    const others = tagsOfDigest(c.var.deps.db, repository.id, known.digest).filter((t) => t !== tag);
    return render(c, <ConfirmDeletePage v={view(c)} kind="tag" repository={name} tag={tag} digest={known.digest} otherTags={others} />);
  });

  ui.post('/delete/tag', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const tag = field(form, 'tag');
    const { projectName } = deletable(c, name);
    if (!TAG_RE.test(tag)) throw notFound('tag.notFound', { tag, repository: name });
    await deleteTag(deleteDeps(c), c.var.principal, name, tag, actorOf(c));
    return afterDelete(c, name, 'tagDeleted', projectName);
  });

  /** The confirmation of an image delete: the tags that go with it and the tagged indexes that list it. */
  const imageConfirmation = (c: AppContext, name: string, digest: string, extra: { error?: string; status?: ContentfulStatusCode } = {}) => {
    const { repository } = deletable(c, name);
    if (!REGISTRY_DIGEST_RE.test(digest)) throw notFound('image.notFound', { digest, repository: name });
    const db = c.var.deps.db;
    const tags = tagsOfDigest(db, repository.id, digest).sort();
    const indexes = taggedParents(db, repository.id, digest).map((index) => ({ digest: index, tags: tagsOfDigest(db, repository.id, index).sort() }));
    return render(
      c,
      <ConfirmDeletePage v={view(c)} kind="image" repository={name} digest={digest} otherTags={tags} indexes={indexes} error={extra.error} />,
      extra.status,
    );
  };

  ui.get('/delete/image', (c) => imageConfirmation(c, c.req.query('repository') ?? '', c.req.query('digest') ?? ''));

  ui.post('/delete/image', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const digest = field(form, 'digest');
    const { projectName } = deletable(c, name);
    if (!REGISTRY_DIGEST_RE.test(digest)) throw notFound('image.notFound', { digest, repository: name });
    try {
      await deleteImage(deleteDeps(c), c.var.principal, name, digest, { force: field(form, 'force') === 'true' }, actorOf(c));
    } catch (err) {
      // Refused while a tagged index lists the image: ask again, now with the reason and the checkbox.
      if (err instanceof AppError && err.status === 409) return imageConfirmation(c, name, digest, { error: errorText(view(c), err), status: 409 });
      throw err;
    }
    return afterDelete(c, name, 'imageDeleted', projectName);
  });

  ui.get('/delete/repository', (c) => {
    const name = c.req.query('repository') ?? '';
    const { projectName } = deletable(c, name);
    const v = view(c);
    const { t } = v.i18n;
    const { total } = listTags(c.var.deps.db, c.var.principal, name, { page: 1, pageSize: 1 });
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="projects"
        title={t('delete.repositoryTitle')}
        facts={[
          [t('repository.name'), name],
          [t('delete.project'), projectName],
        ]}
        warning={t('delete.repositoryWarning', { count: total })}
        action="/delete/repository"
        fields={{ repository: name }}
        button={t('delete.confirmRepository')}
        back={repositoryHref(name)}
      />,
    );
  });

  ui.post('/delete/repository', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const { projectName } = deletable(c, name);
    await deleteRepository(deleteDeps(c), c.var.principal, name, actorOf(c));
    return afterDelete(c, name, 'repositoryDeleted', projectName);
  });

  // ---- audit ----
  ui.get('/audit', (c) => {
    const principal = signedInUser(c);
    const v = view(c);
    const filters: AuditFilters = {
      project: queryText(c, 'project', 128),
      repository: queryText(c, 'repository'),
      username: queryText(c, 'username', 256),
      action: queryText(c, 'action', 64),
      since: queryText(c, 'since', 32),
      until: queryText(c, 'until', 32),
    };
    let error: string | null = null;
    // The form's datetime-local fields carry no zone: they are read as UTC, as the page says.
    const instant = (value: string) => {
      if (!value) return undefined;
      const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) {
        error = v.i18n.t('audit.badDate', { value });
        return undefined;
      }
      return d.toISOString();
    };
    const page = pageOf(c);
    const { items, total } = listAudit(c.var.deps.db, principal, {
      project: filters.project || undefined,
      repository: filters.repository || undefined,
      username: filters.username || undefined,
      action: filters.action || undefined,
      since: instant(filters.since),
      until: instant(filters.until),
      page,
      pageSize: UI_PAGE_SIZE,
    });
    if (filters.action && !(AUDIT_ACTIONS as readonly string[]).includes(filters.action)) filters.action = '';
    return render(c, <AuditPage v={v} filters={filters} items={items} total={total} page={page} pageSize={UI_PAGE_SIZE} error={error} />);
  });

  // ---- users (system admins) ----
  const usersPage = (c: AppContext, extra: { error?: string; draft?: { username: string; email: string; admin: boolean }; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error ? '/users' : undefined);
    const q = queryText(c, 'q', 128);
    const page = pageOf(c);
    const { items, total } = listUsers(c.var.deps.db, { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    return render(
      c,
      <UsersPage v={v} items={items} total={total} q={q} page={page} pageSize={UI_PAGE_SIZE} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />,
      extra.status,
    );
  };

  ui.get('/users', (c) => {
    adminUser(c);
    return usersPage(c);
  });

  ui.post('/users', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const draft = { username: field(form, 'username').trim(), email: field(form, 'email').trim(), admin: field(form, 'admin') === 'true' };
    try {
      if (draft.email && !/^[^\s@]+@[^\s@]+$/.test(draft.email)) throw badRequest('form.badEmail');
      await createUser(c.var.deps.db, { username: draft.username, password: field(form, 'password'), email: draft.email || null, admin: draft.admin }, actorOf(c));
    } catch (err) {
      return usersPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect('/users?done=userCreated', 303);
  });

  ui.post('/users/:username', async (c) => {
    adminUser(c);
    const username = c.req.param('username');
    const form = await formOf(c);
    const input: { admin?: boolean; disabled?: boolean } = {};
    if (field(form, 'admin')) input.admin = field(form, 'admin') === 'true';
    if (field(form, 'disabled')) input.disabled = field(form, 'disabled') === 'true';
    if (input.admin === undefined && input.disabled === undefined) throw badRequest('form.nothingToChange');
    try {
      const user = updateUser(c.var.deps.db, username, input, actorOf(c));
      c.var.deps.credentialCache.dropUser(user.id);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=userUpdated', 303);
  });

  ui.post('/users/:username/password', async (c) => {
    const principal = adminUser(c);
    const username = c.req.param('username');
    const form = await formOf(c);
    try {
      const user = await changePassword(c.var.deps, username, { newPassword: field(form, 'newPassword') }, { ...actorOf(c), admin: principal.admin, via: principal.via });
      c.var.deps.credentialCache.dropUser(user.id);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=passwordReset', 303);
  });

  /** The second step before a user is deleted. */
  ui.get('/users/:username/delete', (c) => {
    adminUser(c);
    const user = getUser(c.var.deps.db, c.req.param('username'));
    const v = view(c);
    const { t } = v.i18n;
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="users"
        title={t('delete.userTitle')}
        facts={[
          [t('login.username'), user.username],
          [t('users.email'), user.email ?? ''],
        ]}
        warning={t('delete.userWarning')}
        action={`/users/${encodeURIComponent(user.username)}/delete`}
        fields={{}}
        button={t('delete.confirmUser')}
        back="/users"
      />,
    );
  });

  ui.post('/users/:username/delete', async (c) => {
    adminUser(c);
    const username = c.req.param('username');
    const { db, credentialCache } = c.var.deps;
    try {
      const user = getUser(db, username);
      deleteUser(db, username, actorOf(c));
      credentialCache.dropUser(user.id);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw err;
      return usersPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/users?done=userDeleted', 303);
  });

  // ---- my account ----
  const accountPage = (
    c: AppContext,
    extra: { error?: string; created?: { name: string; secret: string }; status?: ContentfulStatusCode } = {},
  ) => {
    const principal = signedInUser(c);
    const { db } = c.var.deps;
    const v = view(c, '/account');
    const user = getUser(db, principal.username);
    return render(
      c,
      <AccountPage
        v={v}
        user={user}
        tokens={listPersonalTokens(db, principal, principal.username)}
        registryHost={pullHost(c)}
        created={extra.created}
        error={extra.error}
        notice={noticeOf(c, v)}
      />,
      extra.status,
    );
  };

  ui.get('/account', (c) => accountPage(c));

  ui.post('/account/tokens', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    const name = field(form, 'name').trim();
    const days = field(form, 'expiresInDays').trim();
    try {
      const expiresInDays = days ? Number(days) : undefined;
      if (expiresInDays !== undefined && (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > 3650))
        throw badRequest('form.badExpiry', { min: 1, max: 3650 });
      const { db, clock } = c.var.deps;
      const created = createPersonalToken(db, clock, principal, principal.username, { name, ...(expiresInDays ? { expiresInDays } : {}) }, actorOf(c));
      // The secret is in this response only: it is not stored and never shown again.
      return accountPage(c, { created: { name: created.name, secret: created.secret } });
    } catch (err) {
      return accountPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
  });

  ui.post('/account/tokens/revoke', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    try {
      deletePersonalToken(c.var.deps.db, principal, principal.username, field(form, 'name'), actorOf(c));
    } catch (err) {
      return accountPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/account?done=tokenRevoked', 303);
  });

  ui.post('/account/password', async (c) => {
    const principal = signedInUser(c);
    const form = await formOf(c);
    const newPassword = field(form, 'newPassword');
    const v = view(c, '/account');
    if (newPassword !== field(form, 'repeatPassword')) return accountPage(c, { error: v.i18n.t('account.passwordsDiffer'), status: 400 });
    let user;
    try {
      user = await changePassword(c.var.deps, principal.username, { oldPassword: field(form, 'oldPassword'), newPassword }, { ...actorOf(c), admin: principal.admin, via: principal.via });
    } catch (err) {
      return accountPage(c, { error: errorText(v, err), status: statusOf(err) });
    }
    c.var.deps.credentialCache.dropUser(user.id);
    // Changing the password ends every session of the user, this one too: start a fresh one.
    const old = getCookie(c, SESSION_COOKIE);
    if (old) deleteSession(c.var.deps, old);
    const session = createSession(c.var.deps, userPrincipal(user, 'password'), { ip: clientIp(c), userAgent: c.req.header('user-agent') ?? null });
    setSessionCookie(c, session.cookieValue, session.expiresAt);
    return c.redirect('/account?done=passwordChanged', 303);
  });

  // ---- system (system admins) ----
  ui.get('/system', async (c) => {
    adminUser(c);
    const { db, registryHealth, directory, reconciler, config, clock } = c.var.deps;
    const v = view(c);
    let database: 'ok' | 'error' = 'ok';
    try {
      db.get(sql`select 1`);
    } catch {
      database = 'error';
    }
    const [registryUp, ldapUp] = await Promise.all([registryHealth().catch(() => false), directory.ping().catch(() => false)]);
    return render(
      c,
      <SystemPage
        v={v}
        health={{ database, registry: registryUp ? 'ok' : 'unreachable', ldap: !directory.enabled ? 'disabled' : ldapUp ? 'ok' : 'degraded' }}
        facts={{ publicUrl: config.publicUrl, registryUrl: config.registry.url, registryHost: pullHost(c), defaultProject: config.defaultProject.name }}
        reconcile={{ running: reconciler.running, last: reconciler.last }}
        now={new Date(clock.now()).toISOString()}
        notice={noticeOf(c, v)}
      />,
    );
  });

  ui.post('/system/reconcile', (c) => {
    adminUser(c);
    const { reconciler, db, log } = c.var.deps;
    const actor = actorOf(c);
    recordAudit(db, { username: actor.username, action: 'reconcile', resourceType: 'system', resource: 'tag-state', sourceIp: actor.ip });
    reconciler.run().catch((err: Error) => log.warn({ err: err.message }, 'reconcile failed'));
    return c.redirect('/system?done=reconcileStarted', 303);
  });

  // Any other page path: a friendly 404 page; API, registry and metrics paths keep their JSON 404.
  ui.get('*', async (c, next) => {
    if (!isUiPath(c.req.path)) return next();
    throw notFound('page.notFound');
  });

  return ui;
}
