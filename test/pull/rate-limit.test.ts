import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/pull/clock.js";
import { TokenBucket, resetInstant, retryAfterMs } from "../../src/pull/rate-limit.js";

const T0 = Date.parse("2026-11-27T12:00:00Z");

describe("TokenBucket", () => {
  it("spaces requests so that no minute, however aligned, holds more than the budget", async () => {
    const clock = new ManualClock(T0 + 12_345);
    const bucket = new TokenBucket({ perMinute: 30, clock });
    const sent: number[] = [];
    for (let i = 0; i < 95; i++) {
      await bucket.take();
      sent.push(clock.now());
    }
    for (const start of sent) expect(sent.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(30);
    expect(sent.at(-1)! - sent[0]!).toBe(94 * 2000);
  });

  it("lets a burst through at once, then refills at the rate", async () => {
    const clock = new ManualClock(T0);
    const bucket = new TokenBucket({ perMinute: 60, burst: 5, clock });
    for (let i = 0; i < 5; i++) await bucket.take();
    expect(clock.now()).toBe(T0);
    await bucket.take();
    expect(clock.now()).toBe(T0 + 1000);
  });

  it("queues concurrent callers instead of letting them race past the budget", async () => {
    // Time stands still while they wait, so each wait shows the slot the caller reserved.
    const sleeps: number[] = [];
    const bucket = new TokenBucket({ perMinute: 120, clock: { now: () => T0, sleep: async (ms) => void sleeps.push(ms) } });
    await Promise.all(Array.from({ length: 4 }, () => bucket.take()));
    expect(sleeps).toEqual([500, 1000, 1500]);
  });

  it("holds every request until a reset the server announced", async () => {
    const clock = new ManualClock(T0);
    const bucket = new TokenBucket({ perMinute: 600, burst: 10, clock });
    bucket.holdUntil(T0 + 42_000);
    await bucket.take();
    expect(clock.now()).toBe(T0 + 42_000);
  });
});

describe("retryAfterMs", () => {
  const h = (init: Record<string, string>) => new Headers(init);
  it.each([
    ["Retry-After seconds", { "retry-after": "7" }, 7000],
    ["Retry-After fractional seconds", { "retry-after": "1.5" }, 1500],
    ["Retry-After HTTP-date", { "retry-after": new Date(T0 + 30_000).toUTCString() }, 30_000],
    ["Retry-After date in the past", { "retry-after": new Date(T0 - 5000).toUTCString() }, 0],
    ["X-RateLimit-Reset seconds to go", { "x-ratelimit-reset": "12" }, 12_000],
    ["X-RateLimit-Reset Unix seconds", { "x-ratelimit-reset": String((T0 + 20_000) / 1000) }, 20_000],
    ["X-RateLimit-Reset Unix ms", { "x-ratelimit-reset": String(T0 + 9000) }, 9000],
    ["X-RateLimit-Reset ISO date", { "x-ratelimit-reset": new Date(T0 + 3000).toISOString() }, 3000],
    ["Retry-After wins over X-RateLimit-Reset", { "retry-after": "2", "x-ratelimit-reset": "50" }, 2000],
    ["nothing usable", { "retry-after": "soon" }, null],
    ["no headers", {}, null],
  ])("%s", (_name, headers, expected) => {
    expect(retryAfterMs(h(headers), T0)).toBe(expected);
  });

  it("reads a reset instant by magnitude", () => {
    expect(resetInstant("30", T0)).toBe(T0 + 30_000);
    expect(resetInstant("not a date", T0)).toBeNull();
  });
});
