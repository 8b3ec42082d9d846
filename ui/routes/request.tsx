import { randomBytes } from 'node:crypto';
import type { Child } from 'hono/jsx';
import { getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { Role } from '../../src/access/roles';
import { RoleInputSchema } from '../../src/access/schemas';
import { AppError, badRequest, forbidden, invalidRequest, unauthorized } from '../../src/errors';
import type { AppContext } from '../../src/http/env';
import { secureCookies } from '../../src/http/session';
import { anonymous, type Principal } from '../../src/identity/principal';
import { EXPIRY_DAYS } from '../../src/identity/schemas';
import { chooseLocale, i18n, LANG_COOKIE, type MessageKey } from '../i18n';
import { localPath, registryHost, type View } from '../view';

/** What every page route shares: the view, rendering, the visitor checks, forms, paging and notices. */

/** Double-submit token for the forms of visitors without a session (sign in, language). */
export const PRE_CSRF_COOKIE = 'wharf_csrf';

/** The pre-session CSRF token of this browser, minted (and set as a cookie) on first use. */
function preCsrfToken(c: AppContext): string {
  const existing = getCookie(c, PRE_CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return existing;
  const token = randomBytes(24).toString('base64url');
  setCookie(c, PRE_CSRF_COOKIE, token, { httpOnly: true, sameSite: 'Strict', secure: secureCookies(c), path: '/' });
  return token;
}

export function view(c: AppContext, here?: string): View {
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

export function render(c: AppContext, page: Child, status: ContentfulStatusCode = 200) {
  return c.html(html`<!DOCTYPE html>${page}`, status);
}

/** Thrown by pages that need a signed-in user; becomes a redirect to the sign-in page. */
export class SignInRequired extends Error {}

export function signedInUser(c: AppContext): Extract<Principal, { kind: 'user' }> {
  const p = c.var.principal;
  if (p?.kind !== 'user') {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') throw new SignInRequired();
    throw unauthorized('auth.signInFirst');
  }
  return p;
}

export function adminUser(c: AppContext) {
  const p = signedInUser(c);
  if (!p.admin) throw forbidden('auth.adminOnly');
  return p;
}

export const pageOf = (c: AppContext) => {
  const n = Number(c.req.query('page'));
  return Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? n : 1;
};
export const queryText = (c: AppContext, name: string, max = 255) => (c.req.query(name) ?? '').trim().slice(0, max);

export type Form = Record<string, string | File | (string | File)[]>;
export async function formOf(c: AppContext): Promise<Form> {
  return (await c.req.parseBody({ all: true }).catch(() => ({}))) as Form;
}
/** One text field of a form; a field sent twice counts as missing. */
export const field = (form: Form, name: string) => {
  const v = form[name];
  return typeof v === 'string' ? v : '';
};

/** What a form's refused field says, by field name; the domain's own check may throw the error itself. */
type FieldProblems = Partial<Record<string, () => AppError | void>>;

/** Form fields checked with the domain's input schema, the one the API uses; a refused field becomes its localized error. */
export function formInput<S extends z.ZodType>(schema: S, input: Record<string, unknown>, problems: FieldProblems): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0] ?? '');
  throw problems[name]?.() ?? invalidRequest(`${name}: ${issue.message}`);
}

/** A textarea's entries, one per line, blanks dropped. */
export const linesOf = (text: string) =>
  text
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);

/** The `expiresInDays` field of a token or robot form: empty means no expiry. */
export const expiryField = (form: Form) => {
  const days = field(form, 'expiresInDays').trim();
  return days ? { expiresInDays: Number(days) } : {};
};
export const badExpiry = () => badRequest('form.badExpiry', EXPIRY_DAYS);

/** The `role` field of a member or group form; 400 for anything but a known role. */
export const formRole = (form: Form): Role => formInput(RoleInputSchema, { role: field(form, 'role') }, { role: () => badRequest('form.unknownRole') }).role;

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
  registryCreated: 'notice.registryCreated',
  registryUpdated: 'notice.registryUpdated',
  registryDeleted: 'notice.registryDeleted',
  policyCreated: 'notice.policyCreated',
  policyUpdated: 'notice.policyUpdated',
  policyDeleted: 'notice.policyDeleted',
  executionStarted: 'notice.executionStarted',
  executionStopped: 'notice.executionStopped',
  executionRetried: 'notice.executionRetried',
  quotaSaved: 'notice.quotaSaved',
  readOnlySaved: 'notice.readOnlySaved',
};

/** The line a redirect's `done` parameter asks for (say after a saved form), in the visitor's language. */
export function noticeOf(c: AppContext, v: View): string | null {
  const done = c.req.query('done') ?? '';
  return Object.hasOwn(NOTICES, done) ? v.i18n.t(NOTICES[done]!) : null;
}

/** The host:port that `docker pull` commands on the pages name. */
export const pullHost = (c: AppContext) => registryHost(c.var.deps.config, c.req.header('host'));
