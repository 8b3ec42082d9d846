import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Deps } from '../deps';
import { clientAddress } from './client-address';
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

/** The client's address: the socket peer, or the nearest untrusted X-Forwarded-For hop behind trusted proxies. */
export function clientIp(c: AppContext): string | null {
  return clientAddress(c.env?.incoming?.socket?.remoteAddress, c.req.header('x-forwarded-for'), c.var.deps.trustedProxies);
}

export function actorOf(c: AppContext): Actor {
  return {
    username: c.var.principal?.username ?? 'anonymous',
    ip: clientIp(c),
    userAgent: c.req.header('user-agent')?.slice(0, 512) ?? null,
  };
}
