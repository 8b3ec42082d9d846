import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';

/** Talks to the registry's HTTP API. Wharf's own calls carry tokens it mints for itself. */
export class RegistryClient {
  readonly dispatcher: Dispatcher;

  constructor(
    readonly baseUrl: string,
    opts: { caFile?: string } = {},
  ) {
    this.dispatcher = new Agent({
      connections: 16,
      connect: opts.caFile ? { ca: readFileSync(opts.caFile) } : {},
      headersTimeout: 30_000,
      bodyTimeout: 60_000,
    });
  }

  /** True when the registry answers /v2/ (200, or 401 asking for a token). */
  async ping(): Promise<boolean> {
    try {
      const res = await request(`${this.baseUrl}/v2/`, { dispatcher: this.dispatcher, signal: AbortSignal.timeout(2000) });
      await res.body.dump();
      return res.statusCode === 200 || res.statusCode === 401;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
