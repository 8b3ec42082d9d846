/** The one error type: a stable code, the HTTP status it maps to, and a message safe to show. */
export class AppError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new AppError(400, code, message);
export const unauthorized = (message = 'authentication required') =>
  new AppError(401, 'unauthorized', message, { 'WWW-Authenticate': 'Basic realm="wharf", charset="UTF-8"' });
export const forbidden = (message = 'not allowed') => new AppError(403, 'forbidden', message);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new AppError(409, 'conflict', message);
