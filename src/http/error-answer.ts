import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUnstorableText } from '../db/engine';
import { isStorageFailure, storageFull } from '../db/storage';
import { AppError, type ErrorKey, type ErrorParams } from '../errors';
import { RegistryError } from '../registry/client';
import type { AppContext } from './env';

/** What a failed request means to its caller: the API answers it as JSON, the pages as an error page. */
export interface ErrorAnswer {
  /** storage: disk full or failing; app: a service's refusal; registry: no usable answer from it; request: Hono refused the request; internal: a bug. */
  kind: 'storage' | 'app' | 'registry' | 'request' | 'internal';
  status: ContentfulStatusCode;
  code: string;
  /** English and safe to show: never a stack trace or SQL. */
  message: string;
  headers: Record<string, string>;
  /** The message's ERROR_TEXTS key, when it has one, so a page can say it in the visitor's language. */
  key?: ErrorKey;
  params: ErrorParams;
}

const fromAppError = (kind: ErrorAnswer['kind'], err: AppError): ErrorAnswer => ({
  kind,
  status: err.status as ContentfulStatusCode,
  code: err.code,
  message: err.message,
  headers: err.headers,
  ...(err.key ? { key: err.key } : {}),
  params: err.params,
});

/**
 * The one classification of a request's failure, shared by the API's onError and the pages' error
 * mapper; it also tells the operator what they must know (full disk, registry trouble, a bug).
 */
export function answerError(err: Error, c: AppContext, unhandledLogLine = 'unhandled error'): ErrorAnswer {
  if (isStorageFailure(err)) {
    c.var.deps?.storageAlarm.report(err, c.req.path);
    return fromAppError('storage', storageFull());
  }
  if (err instanceof AppError) return fromAppError('app', err);
  // A NUL in a name or value that reached a query: the caller's input, which no row can match.
  if (isUnstorableText(err)) return { kind: 'request', status: 400, code: 'invalid_request', message: 'invalid character in the request', headers: {}, params: {} };
  if (err instanceof RegistryError) {
    c.var.deps?.log.warn({ err: err.message, path: c.req.path }, 'registry call failed');
    return { kind: 'registry', status: 503, code: 'registry_unavailable', message: 'the registry did not answer as expected; try again later', headers: {}, params: {} };
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413 ? 'payload_too_large' : status < 500 ? 'invalid_request' : 'internal';
    return { kind: 'request', status, code, message: err.message || 'invalid request', headers: {}, params: {} };
  }
  c.var.deps?.log.error({ err: { message: err.message, stack: err.stack }, path: c.req.path }, unhandledLogLine);
  return { kind: 'internal', status: 500, code: 'internal', message: 'internal error', headers: {}, params: {} };
}
