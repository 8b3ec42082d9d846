import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { getCookie } from 'hono/cookie';
import { authenticatePassword } from '../identity/authenticate';
import { createSession, deleteSession } from '../identity/sessions';
import { actorOf, clientIp, type AppEnv } from '../http/env';
import { clearSessionCookie, SESSION_COOKIE, setSessionCookie } from '../http/session';
import { json, jsonBody, pick } from './route-kit';

const SessionSchema = z
  .object({
    username: z.string(),
    admin: z.boolean(),
    csrfToken: z.string().openapi({ description: 'Send as x-csrf-token (or the _csrf form field) with every state-changing request' }),
    expiresAt: z.string(),
  })
  .openapi('Session');

export function sessionRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/session',
      tags: ['session'],
      summary: 'Sign in a browser: sets an HttpOnly, SameSite=Strict session cookie',
      security: [],
      request: { body: jsonBody(z.object({ username: z.string().min(1).max(256), password: z.string().max(1024) }).strict()) },
      responses: { 200: json(SessionSchema), ...pick(400, 401, 403, 429) },
    }),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const ctx = { ip: clientIp(c), userAgent: c.req.header('user-agent') };
      const principal = await authenticatePassword(c.var.deps, username, password, ctx);
      const session = await createSession(c.var.deps, principal, ctx);
      setSessionCookie(c, session.cookieValue, session.expiresAt);
      return c.json({ username: principal.username, admin: principal.admin, csrfToken: session.csrfToken, expiresAt: session.expiresAt }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/session',
      tags: ['session'],
      summary: 'Sign out: ends the session (needs the CSRF token)',
      security: [],
      responses: { 204: { description: 'Signed out' }, ...pick(403) },
    }),
    async (c) => {
      const cookie = getCookie(c, SESSION_COOKIE);
      if (cookie) await deleteSession(c.var.deps, cookie, actorOf(c));
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  );

  return app;
}
