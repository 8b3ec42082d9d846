import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Deps } from '../deps';
import type { Actor, Principal } from '../identity/principal';

export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    deps: Deps;
    principal: Principal;
    /** The session's CSRF token ('' without a session). */
    csrfToken: string;
  };
}

export type AppContext = Context<AppEnv>;

/** The client's address: the socket peer, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientIp(c: AppContext): string | null {
  if (c.var.deps.config.trustProxy) {
    const forwarded = c.req.header('x-forwarded-for');
    if (forwarded) return forwarded.split(',')[0]!.trim().slice(0, 64);
  }
  return c.env?.incoming?.socket?.remoteAddress ?? null;
}

export function actorOf(c: AppContext): Actor {
  return {
    username: c.var.principal?.username ?? 'anonymous',
    ip: clientIp(c),
    userAgent: c.req.header('user-agent')?.slice(0, 512) ?? null,
  };
}
