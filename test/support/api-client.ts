import http from 'node:http';
import { expect } from 'vitest';
import type { Deps } from '../../src/deps';
import type { AppInstance } from './instance';
import type { TestWharf } from './wharf';

export type Answer = { status: number; body: any; headers: Headers | http.IncomingHttpHeaders; text?: string };
export type CallOptions = { auth?: string; body?: unknown; headers?: Record<string, string> };
export type RawOptions = { auth?: string; body?: string | Buffer; headers?: Record<string, string>; chunked?: boolean; agent?: http.Agent };

/** A caller of /api/v1 whose every answer has passed `expectSane`; `deps` reaches the tables behind it. */
export interface ApiClient {
  deps: Deps;
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
}

/** An `ApiClient` over a real socket, which can also send a path byte for byte. */
export interface ListenerApiClient extends ApiClient {
  url: string;
  raw(method: string, path: string, opts?: RawOptions): Promise<Answer>;
}

/** What every answer must satisfy: never a 5xx, never a password hash. */
export function expectSane(method: string, path: string, r: { status: number; body: unknown }, text?: string): void {
  const shown = (text ?? JSON.stringify(r.body ?? null)).slice(0, 500);
  expect(r.status, `${method} ${path.slice(0, 200)} answered ${r.status}: ${shown}`).not.toBe(500);
  expect(r.status, `${method} ${path.slice(0, 200)} answered ${r.status}: ${shown}`).toBeLessThan(500);
  expect(text ?? JSON.stringify(r.body ?? null), `${method} ${path.slice(0, 200)} leaked a password hash`).not.toContain('scrypt$');
}

export const header = (r: Answer, name: string): string | null => {
  if (r.headers instanceof Headers) return r.headers.get(name);
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : (v ?? null);
};

export const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function requestInit(method: string, opts: CallOptions): RequestInit {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth) headers.authorization = basic(opts.auth);
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  return { method, headers, body };
}

// The node-server binding the app reads the client address from; in-process callers come from loopback.
const LOOPBACK_BINDINGS = { incoming: { socket: { remoteAddress: '127.0.0.1' } } };

/** Answers through `app.request`, with no socket and no registry: for endpoints that never call it. */
export function inProcessApi(running: AppInstance): ApiClient {
  return {
    deps: running.instance.deps,
    async call(method, path, opts = {}) {
      const res = await running.app.request(path, requestInit(method, opts), LOOPBACK_BINDINGS as never);
      const text = await res.text();
      const r = { status: res.status, body: parseBody(text), headers: res.headers };
      expectSane(method, path, r);
      return r;
    },
  };
}

/** Answers over HTTP from a running Wharf: for real sockets (raw paths, keep-alive, the Host header). */
export function listenerApi(w: TestWharf): ListenerApiClient {
  return {
    deps: w.wharf.deps,
    url: w.url,
    async call(method, path, opts = {}) {
      const res = await fetch(`${w.url}${path}`, requestInit(method, opts));
      const text = await res.text();
      const r = { status: res.status, body: parseBody(text), headers: res.headers };
      expectSane(method, path, r);
      return r;
    },
    raw: (method, path, opts = {}) => rawRequest(w.url, method, path, opts),
  };
}

/** A request with the path sent byte for byte (fetch would normalise `..` and `%2e%2e`). */
function rawRequest(base: string, method: string, path: string, opts: RawOptions): Promise<Answer> {
  const u = new URL(base);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth) headers.authorization = basic(opts.auth);
  if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), method, path, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const r = { status: res.statusCode ?? 0, body: parseBody(text), headers: res.headers, text };
        try {
          expectSane(method, path, r, text);
        } catch (err) {
          reject(err);
          return;
        }
        resolve(r);
      });
    });
    req.on('error', reject);
    if (opts.body !== undefined) {
      if (opts.chunked) {
        const buf = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
        for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024));
        req.end();
      } else req.end(opts.body);
    } else req.end();
  });
}
