import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait';

/** One request a webhook receiver got: headers and the raw body as sent. */
export interface Received {
  at: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/**
 * A real HTTP endpoint on loopback for webhook deliveries: it records every request, answers
 * `status` (200 unless set), and can go down and come back on the same port.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  status = 200;
  private server: Server | null = null;
  private port = 0;

  /** Base URL (http://127.0.0.1:<port>). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.status;
        this.received.push({ at: Date.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port || this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the port (connections refused) until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Waits until `n` requests matching `match` arrived; returns them. */
  async waitForRequests(n: number, match: (r: Received) => boolean = () => true, timeoutMs = 20_000): Promise<Received[]> {
    const got = await waitFor(
      () => {
        const got = this.received.filter(match);
        return got.length >= n ? got : null;
      },
      timeoutMs,
      `${n} webhook request(s)`,
    );
    return got!;
  }
}
