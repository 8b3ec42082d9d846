import type { ErrorHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../../src/errors';
import { answerError } from '../../src/http/error-answer';
import type { AppContext, AppEnv } from '../../src/http/env';
import type { MessageKey } from '../i18n';
import { ErrorPage } from '../pages/error';
import type { View } from '../view';
import { render, SignInRequired, view } from './request';

const STATUS_TITLES: Record<number, MessageKey> = {
  400: 'error.invalid',
  401: 'error.signIn',
  403: 'error.forbidden',
  404: 'error.notFound',
  409: 'error.conflict',
  413: 'error.tooLarge',
  429: 'error.throttled',
  503: 'error.unavailable',
};

const statusTitle = (v: View, status: number) => v.i18n.t(STATUS_TITLES[status] ?? 'error.generic');

/** The error's own message in the visitor's language, or null for an error without a key. */
const localizedError = (v: View, err: Pick<AppError, 'key' | 'params'>): string | null => (err.key ? v.i18n.t(`err.${err.key}`, err.params) : null);

/** A service error as a line for the page, in the visitor's language: its own message if it has a key, else a lead-in by status. */
export function errorText(v: View, err: unknown): string {
  if (!(err instanceof AppError)) throw err;
  return localizedError(v, err) ?? statusTitle(v, err.status);
}

export const statusOf = (err: unknown): ContentfulStatusCode => (err instanceof AppError ? (err.status as ContentfulStatusCode) : 500);

/** The project itself is missing (or invisible): its page cannot be shown again, so the 404 page instead. */
export const projectGone = (err: unknown) => err instanceof AppError && err.key === 'project.notFound';

/** Any failure of a page as an error page, classified as the API's onError classifies it. */
export const pageError: ErrorHandler<AppEnv> = (err, c: AppContext) => {
  if (err instanceof SignInRequired) {
    const url = new URL(c.req.url);
    return c.redirect(`/login?${new URLSearchParams({ next: url.pathname + url.search }).toString()}`, 303);
  }
  const answer = answerError(err, c, 'unhandled error in a page');
  // After a refused POST the language selector returns to a page that can be shown again.
  const v = view(c, c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : '/projects');
  const { t } = v.i18n;
  const detail = localizedError(v, answer) ?? undefined;
  const page = (title: string, text: string | undefined) => render(c, <ErrorPage v={v} title={title} detail={text} />, answer.status);
  switch (answer.kind) {
    case 'storage':
      return page(t('error.unavailable'), detail);
    case 'app':
      return page(statusTitle(v, answer.status), detail);
    case 'registry':
      return page(t('error.unavailable'), t('error.registryDown'));
    case 'request':
      return page(t(answer.status === 413 ? 'error.tooLarge' : answer.status < 500 ? 'error.invalid' : 'error.generic'), undefined);
    case 'internal':
      return page(t('error.generic'), t('error.internal'));
  }
};
