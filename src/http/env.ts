import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Deps } from '../deps';
import { clientAddress } from './client-address';
import type { Actor, Principal } from '../identity/principal';
import { contextFor, type Ctx } from '../context';

export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    deps: Deps;
    principal: Principal;
    /** The session's CSRF token ('' without a session). */
    csrfToken: string;
    /** The service context of this request, built on first use (after the caller is known). */
    ctx?: Ctx;
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

/** The request's service context: its caller, their address for audit rows, the instance's parts. */
export function ctxOf(c: AppContext): Ctx {
  let ctx = c.var.ctx;
  if (!ctx || ctx.principal !== c.var.principal) {
    ctx = contextFor(c.var.deps, c.var.principal, actorOf(c));
    c.set('ctx', ctx);
  }
  return ctx;
}
