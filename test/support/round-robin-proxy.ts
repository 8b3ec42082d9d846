import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A load balancer in front of several Wharf instances, as nginx's `upstream` with
 * `proxy_next_upstream error` behaves: requests go round robin; a backend that refuses the
 * connection is skipped for the next one; a GET or HEAD whose backend fails before it answers is
 * sent to the next one, other methods then get 502 (their sender retries: the registry re-sends
 * notifications). Bodies are read whole first, so they can be sent again.
 */

export interface RoundRobinProxy {
  url: string;
  /** Answers each backend gave, in the order the backends were given. */
  answered(): number[];
  /** Connections each backend refused. */
  refused(): number[];
  /** Requests a backend failed after taking them: `METHOD path -> backend index: error, then retried | 502`. */
  cutOff(): string[];
  close(): Promise<void>;
}

const RETRIED_AFTER_SENDING = new Set(['GET', 'HEAD']);

type Attempt = { res: http.IncomingMessage } | { err: NodeJS.ErrnoException; connected: boolean };

function forward(backend: string, req: http.IncomingMessage, body: Buffer, onConnect: () => void): Promise<Attempt> {
  const [host, port] = [backend.slice(0, backend.lastIndexOf(':')), Number(backend.slice(backend.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    let connected = false;
    // A connection per request, as a dead backend's kept-alive sockets would fail mid-request.
    const out = http.request({ host, port, method: req.method, path: req.url, headers: req.headers, agent: false }, (res) => resolve({ res }));
    out.on('socket', (s) =>
      s.once('connect', () => {
        connected = true;
        onConnect();
      }),
    );
    out.on('error', (err) => resolve({ err, connected }));
    out.end(body);
  });
}

/**
 * Listens on a free loopback port and spreads requests over `backends` (host:port each);
 * `onConnect` hears of each connection made to a backend for a request, with the backend's index
 * (a test kills a backend while it holds a request).
 */
export async function startRoundRobinProxy(
  backends: string[],
  opts: { onConnect?: (backend: number, req: http.IncomingMessage) => void } = {},
): Promise<RoundRobinProxy> {
  const answered = backends.map(() => 0);
  const refused = backends.map(() => 0);
  const cutOff: string[] = [];
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const first = next++ % backends.length;
        let why = 'no backend';
        for (let i = 0; i < backends.length; i++) {
          const at = (first + i) % backends.length;
          const attempt = await forward(backends[at]!, req, body, () => opts.onConnect?.(at, req));
          if ('res' in attempt) {
            answered[at]!++;
            // A backend killed mid-answer cuts the client off too, as nginx does.
            attempt.res.once('error', () => res.destroy());
            res.writeHead(attempt.res.statusCode ?? 502, attempt.res.headers);
            attempt.res.pipe(res);
            return;
          }
          why = `${backends[at]}: ${attempt.err.code ?? attempt.err.message}`;
          if (!attempt.connected) {
            refused[at]!++;
            continue;
          }
          const retried = RETRIED_AFTER_SENDING.has(req.method ?? '');
          cutOff.push(`${req.method} ${req.url?.split('?')[0]} -> ${at}: ${attempt.err.code ?? attempt.err.message}, then ${retried ? 'retried' : '502'}`);
          if (!retried) break;
        }
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`bad gateway (${why})\n`);
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => [...answered],
    refused: () => [...refused],
    cutOff: () => [...cutOff],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
