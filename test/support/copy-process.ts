/**
 * One copyImage in a process of its own, so its memory is measured alone:
 * `node --import tsx test/support/copy-process.ts '<CopyJob JSON>'` prints one JSON line with the
 * result, the seconds it took and the process's peak resident memory (VmHWM).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { copyImage, type CopyResult } from '../../src/replication/copy';
import { RemoteRegistry, type RegistryEndpoint } from '../../src/replication/remote';

export interface CopyJob {
  source: RegistryEndpoint;
  sourceRepository: string;
  reference: string;
  target: RegistryEndpoint;
  targetRepository: string;
  tag: string;
  chunkBytes?: number;
}

export interface CopyProcessReport {
  result: CopyResult;
  seconds: number;
  peakRssBytes: number;
}

function peakRssBytes(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb ?? 0) * 1024;
}

async function main(job: CopyJob): Promise<CopyProcessReport> {
  const source = new RemoteRegistry(job.source);
  const target = new RemoteRegistry(job.target);
  const started = performance.now();
  try {
    const result = await copyImage({ ...job, source, target, override: true });
    return { result, seconds: (performance.now() - started) / 1000, peakRssBytes: peakRssBytes() };
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(JSON.stringify(await main(JSON.parse(process.argv[2]!) as CopyJob)) + '\n');
}
