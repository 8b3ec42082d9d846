import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** How far ahead of the rate a burst may go, so that small chunks are not each delayed. */
const BURST_SECONDS = 0.25;

/**
 * A bandwidth limit shared by every stream of one copy: each stream it makes passes its chunks on
 * only as fast as the limit allows all of them together (a token bucket refilled at the rate).
 */
export class Bandwidth {
  private readonly bytesPerMs: number;
  /** When the bytes let through so far will have been paid for at the rate. */
  private paidUntil = 0;

  constructor(kiloBytesPerSecond: number) {
    this.bytesPerMs = (kiloBytesPerSecond * 1024) / 1000;
  }

  /** Waits until `bytes` more may pass. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    this.paidUntil = Math.max(this.paidUntil, now - BURST_SECONDS * 1000) + bytes / this.bytesPerMs;
    const wait = this.paidUntil - now - BURST_SECONDS * 1000;
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
  }

  /** A pass-through stream held to the limit. */
  stream(signal?: AbortSignal): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.take(chunk.length, signal).then(
          () => done(null, chunk),
          (err: Error) => done(err),
        );
      },
    });
  }
}
