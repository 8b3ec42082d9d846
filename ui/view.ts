import type { Config } from '../src/config/schema';
import type { Principal } from '../src/identity/principal';
import type { I18n } from './i18n';

export type NavKey = 'projects' | 'audit' | 'users' | 'replication' | 'robots' | 'account' | 'system';

/** What every page needs besides its own data: who is looking, in which language, and the form token. */
export interface View {
  i18n: I18n;
  principal: Principal;
  /** Token for the `_csrf` field of every form: the session's, or the pre-login one for anonymous visitors. */
  csrf: string;
  /** Path and query of this page, so the language selector can come back to it. */
  here: string;
}

export const UI_PAGE_SIZE = 25;

/** A path on this site to go back to after a form: only `/…`, never `//host` or a backslash trick. */
export function localPath(value: string | undefined | null, fallback = '/projects'): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || /[\\\u0000-\u001f]/.test(value) || value.length > 2000) return fallback;
  return value;
}

const LOOPBACK_OR_ANY = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0', '::', '[::]', '']);

/**
 * The host:port clients give `docker pull`. Wharf's own address (publicUrl) is the token service,
 * not the registry. When registry.url names a real host, clients use that. When it is a loopback
 * address (Wharf supervises the registry on this machine), clients reach the registry under the same
 * host name as this page (the request's Host) on the registry's port (registry.listen).
 */
export function registryHost(config: Config, requestHost: string | undefined): string {
  const url = new URL(config.registry.url);
  const urlHost = url.hostname.replace(/^\[|\]$/g, '');
  if (!LOOPBACK_OR_ANY.has(urlHost)) return url.host;
  const listenPort = config.registry.listen.slice(config.registry.listen.lastIndexOf(':') + 1);
  const port = config.registry.manage === 'false' ? url.port || listenPort : listenPort;
  const hostname = hostnameOf(requestHost) ?? url.hostname;
  return port && port !== '443' ? `${hostname}:${port}` : hostname;
}

/** The host name part of a Host header (IPv6 kept in brackets); null when it does not look like one. */
function hostnameOf(host: string | undefined): string | null {
  if (!host) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(host.trim());
  return m ? m[1]! : null;
}
