/** The time source: tests swap it to move through expiry windows without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const isoTime = (ms: number) => new Date(ms).toISOString();
