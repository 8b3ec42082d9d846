import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through proxy in front of one registry that counts the blob uploads it carries (streamed
 * both ways, nothing buffered), so a test sees exactly what a copier sent to its target. `gate`
 * runs before each request is forwarded: a test stops the registry from there at a chosen moment.
 */

export interface UploadCounts {
  /** Digests of the uploads the registry finished (PUT ?digest= answered 201), in order. */
  finished: string[];
  /** PATCH requests the registry accepted (202) and their bytes. */
  patches: number;
  patchedBytes: number;
  /** Upload starts the registry answered, and of them the mounts it made (201). */
  started: number;
  mounted: number;
}

export interface CountingProxy {
  url: string;
  /** host:port, as Distribution clients name it. */
  host: string;
  counts(): UploadCounts;
  reset(): void;
  close(): Promise<void>;
}

const emptyCounts = (): UploadCounts => ({ finished: [], patches: 0, patchedBytes: 0, started: 0, mounted: 0 });

export async function startCountingProxy(backend: string, opts: { gate?: (req: http.IncomingMessage, counts: UploadCounts) => Promise<void> | void } = {}): Promise<CountingProxy> {
  let counts = emptyCounts();
  const [host, port] = [backend.slice(0, backend.lastIndexOf(':')), Number(backend.slice(backend.lastIndexOf(':') + 1))];
  const server = http.createServer((req, res) => {
    void (async () => {
      await opts.gate?.(req, counts);
      const out = http.request({ host, port, method: req.method, path: req.url, headers: req.headers, agent: false }, (answer) => {
        const status = answer.statusCode ?? 502;
        const url = new URL(req.url ?? '/', 'http://proxy');
        if (url.pathname.includes('/blobs/uploads/')) {
          if (req.method === 'PUT' && status === 201 && url.searchParams.get('digest')) counts.finished.push(url.searchParams.get('digest')!);
          if (req.method === 'PATCH' && status === 202) {
            counts.patches++;
            counts.patchedBytes += Number(req.headers['content-length'] ?? 0);
          }
          if (req.method === 'POST' && (status === 201 || status === 202)) {
            counts.started++;
            if (status === 201) counts.mounted++;
          }
        }
        res.writeHead(status, answer.headers);
        answer.pipe(res);
      });
      out.on('error', (err: NodeJS.ErrnoException) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`bad gateway (${err.code ?? err.message})\n`);
        else res.destroy();
        req.resume();
      });
      req.pipe(out);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${address}`,
    host: address,
    counts: () => ({ ...counts, finished: [...counts.finished] }),
    reset: () => {
      counts = emptyCounts();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
