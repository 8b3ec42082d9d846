import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { AppError } from '../errors';
import type { AppEnv } from '../http/env';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Bearer <notification secret>`. */
export function notificationAuthorized(header: string | undefined, secret: string): boolean {
  const presented = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim() ?? '';
  return timingSafeEqual(digest(presented), digest(secret)) && presented.length > 0;
}

/** The registry's webhook. */
export function notificationRoutes() {
  const app = new Hono<AppEnv>();
  app.post('/', async (c) => {
    if (!notificationAuthorized(c.req.header('authorization'), c.var.deps.notificationSecret))
      throw new AppError(401, 'unauthorized', 'missing or wrong notification secret');
    await c.req.arrayBuffer();
    return c.body(null, 200);
  });
  return app;
}
