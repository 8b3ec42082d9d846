import { afterAll, beforeAll } from 'vitest';
import { inProcessApi, listenerApi, type ApiClient, type CallOptions, type ListenerApiClient } from './api-client';
import { startAppInstance } from './instance';
import { createCast } from './role-matrix';
import { startTestWharf, type TestWharf } from './wharf';

/** One instance per test file (a database of its own), with the cast in it; filled before the file's tests run. */
export interface ApiSuite<C extends ApiClient> {
  api: C;
  call(method: string, path: string, opts?: CallOptions): ReturnType<ApiClient['call']>;
}

function suite<C extends ApiClient>(start: () => Promise<{ api: C; stop(): Promise<void> }>): ApiSuite<C> {
  let stop: (() => Promise<void>) | undefined;
  const s = { call: (method, path, opts) => s.api.call(method, path, opts) } as ApiSuite<C>;
  beforeAll(async () => {
    const started = await start();
    stop = started.stop;
    s.api = started.api;
    await createCast(s.api);
  });
  afterAll(async () => {
    await stop?.();
  });
  return s;
}

/** The app answered in-process: for endpoints that never call the registry. */
export function inProcessSuite(prefix: string): ApiSuite<ApiClient> {
  return suite(async () => {
    const running = await startAppInstance(prefix);
    return { api: inProcessApi(running), stop: () => running.stop() };
  });
}

/** A listening Wharf with no registry: for what needs a real socket (raw paths, keep-alive, Host, peer address). */
export function listenerSuite(): ApiSuite<ListenerApiClient> & { wharf(): TestWharf } {
  let w: TestWharf | undefined;
  const s = suite(async () => {
    w = await startTestWharf({}, { manage: false });
    return { api: listenerApi(w), stop: () => w!.stop() };
  });
  return Object.assign(s, { wharf: () => w! });
}
