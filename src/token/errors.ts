import { answerError } from '../http/error-answer';
import type { AppContext } from '../http/env';

/**
 * Distribution's error codes by HTTP status: docker, podman and containerd print
 * `<code in lower case>: <message>` from `{"errors":[{code,message}]}` and nothing useful from any
 * other shape. Distribution has no generic code for bad input, so 4xx input errors are BAD_REQUEST.
 */
function distributionCode(status: number): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 500) return 'UNKNOWN';
  return 'BAD_REQUEST';
}

/** RFC 6749 section 5.2 error for the OAuth2 form flow. */
function oauthError(status: number, code: string): string {
  if (code === 'unsupported_grant_type') return 'unsupported_grant_type';
  if (status === 401 || status === 429) return 'invalid_grant';
  if (status === 403) return 'invalid_scope';
  if (status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  return 'invalid_request';
}

export interface TokenErrorBody {
  errors: { code: string; message: string }[];
  error?: string;
  error_description?: string;
}

/** What the token endpoint answers for an error, in the registry's shape (plus OAuth2 for POST). */
export function tokenErrorResponse(err: Error, c: AppContext): Response {
  // The one classification the API and the pages use; only the shape differs here.
  const { status, code, message, headers } = answerError(err, c, 'unhandled error in the token endpoint');
  const body: TokenErrorBody = { errors: [{ code: distributionCode(status), message }] };
  if (c.req.method === 'POST') {
    body.error = oauthError(status, code);
    // RFC 6749 allows no '"', '\\' or non-ASCII here; messages may quote client input.
    body.error_description = message.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
  }
  return c.json(body, status, { ...headers, 'Cache-Control': 'no-store' });
}
