import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppError } from '../errors';
import type { AppEnv } from './env';

/** Up to this much of an oversized body is read and discarded before the 413. */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Refuses bodies over `maxSize` with `tooLarge()` (a 413), without ever buffering them.
 *
 * A body whose Content-Length is over the limit is read to the end and thrown away first (up to
 * 8 MiB): answering while the client is still sending makes most clients, browsers included,
 * report a reset connection instead of the answer. A larger or a chunked body is cut off at the
 * limit and the connection closed.
 */
export function limitBody(maxSize: number, tooLarge: (headers: Record<string, string>) => AppError): [MiddlewareHandler<AppEnv>, MiddlewareHandler<AppEnv>] {
  const declared: MiddlewareHandler<AppEnv> = async (c, next) => {
    const length = Number(c.req.header('content-length') ?? 0);
    if (!(length > maxSize)) return next();
    const incoming = c.env?.incoming;
    if (!incoming || length > DRAIN_LIMIT) throw tooLarge({ Connection: 'close' });
    await new Promise<void>((resolve) => {
      incoming.once('end', resolve);
      incoming.once('close', resolve);
      incoming.once('error', () => resolve());
      incoming.resume();
    });
    throw tooLarge({});
  };
  const streamed = bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge({ Connection: 'close' });
    },
  });
  return [declared, streamed];
}
