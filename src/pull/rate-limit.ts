import type { Clock } from "./clock.js";

/**
 * Client-side request budget: a token bucket refilled at `perMinute`, holding at most `burst`
 * tokens. With the default burst of 1 requests are evenly spaced, so no minute (however it is
 * aligned) sees more than `perMinute` of them — the way Langfuse counts its 30/100/1000 req/min.
 * Callers reserve a token and wait for it, so concurrent callers queue instead of racing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private heldUntil = 0;
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly clock: Clock;

  constructor(opts: { perMinute: number; burst?: number; clock: Clock }) {
    this.clock = opts.clock;
    if (!(opts.perMinute > 0)) throw new Error("requests per minute must be positive");
    this.intervalMs = 60_000 / opts.perMinute;
    this.burst = Math.max(1, opts.burst ?? 1);
    this.tokens = this.burst;
    this.last = opts.clock.now();
  }

  /** Resolves when the caller may send one request. */
  async take(): Promise<void> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.intervalMs);
    this.last = now;
    this.tokens -= 1;
    const forToken = this.tokens < 0 ? -this.tokens * this.intervalMs : 0;
    const wait = Math.max(forToken, this.heldUntil - now);
    if (wait > 0) await this.clock.sleep(Math.ceil(wait));
  }

  /** The server said the budget is spent until `at` (epoch ms): nothing goes out before. */
  holdUntil(at: number): void {
    this.heldUntil = Math.max(this.heldUntil, at);
  }
}

/**
 * How long the server asked us to wait, from `Retry-After` (delta-seconds or HTTP-date, RFC 9110
 * §10.2.3), else `X-RateLimit-Reset`. Null when neither says anything usable.
 */
export function retryAfterMs(headers: Headers, nowMs: number): number | null {
  const retryAfter = headers.get("retry-after");
  if (retryAfter !== null) {
    const v = retryAfter.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
    const at = Date.parse(v);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  const reset = headers.get("x-ratelimit-reset");
  if (reset !== null) {
    const at = resetInstant(reset, nowMs);
    if (at !== null) return Math.max(0, at - nowMs);
  }
  return null;
}

/**
 * `X-RateLimit-Reset` has no standard: APIs send seconds until the reset, a Unix time in seconds
 * or milliseconds, or a date. Magnitude tells them apart (no window is 30 years long).
 */
export function resetInstant(value: string, nowMs: number): number | null {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    if (n >= 1e12) return n;
    if (n >= 1e9) return n * 1000;
    return nowMs + n * 1000;
  }
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : at;
}
