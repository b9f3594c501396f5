/**
 * Time as the pull sees it. Everything that waits (rate limits, Retry-After, backoff) or reads
 * "now" (the lag behind it) goes through a Clock, so tests drive time instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/**
 * Virtual time: `sleep` moves the clock forward and returns at once. Shared by a client and a
 * stand-in server, it makes "waited at least N seconds" visible in the server's request log.
 */
export class ManualClock implements Clock {
  private t: number;
  /** Every sleep requested, in order (what the code under test chose to wait). */
  readonly sleeps: number[] = [];

  constructor(start: number | Date | string) {
    this.t = typeof start === "number" ? start : new Date(start).getTime();
  }

  now(): number {
    return this.t;
  }

  async sleep(ms: number): Promise<void> {
    const d = Math.max(0, ms);
    this.sleeps.push(d);
    this.t += d;
  }

  advance(ms: number): void {
    this.t += ms;
  }

  set(at: number | Date | string): void {
    this.t = typeof at === "number" ? at : new Date(at).getTime();
  }
}
