/**
 * @module Telling "this request failed" from "the destination is down", so the worker can pause a
 * destination's queue during an outage instead of burning every job's attempts (sink.ts, RetryScope).
 */
import type { RetryScope, SinkOutcome } from "./sink.js";

/** Connection-level failures that mean nothing is listening, or nothing can be reached: no request got through. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "UND_ERR_CONNECT_TIMEOUT"]);

function codeOf(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as Error & { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Node's happy-eyeballs connect reports an AggregateError of per-address failures.
  if (e instanceof AggregateError) return e.errors.map(codeOf).find((c) => c !== undefined);
  return undefined;
}

/** True when fetch's TypeError says the request never reached the destination (refused, DNS, unreachable). */
export function neverReached(e: unknown): boolean {
  const cause = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  const code = codeOf(cause) ?? codeOf(e);
  return code !== undefined && UNREACHABLE.has(code);
}

/** 429 (a per-organization budget) and a gateway's 502/503/504 are about the destination, not the request. */
export function statusScope(status: number): RetryScope {
  return status === 429 || status === 502 || status === 503 || status === 504 ? "destination" : "event";
}

/**
 * Consecutive transient failures (5xx, 429, network, timeouts) of one sink's ingest requests,
 * across its sends: once `threshold` in a row failed, every failure is reported with
 * `scope: "destination"` ("5xx on every event"). Any other answer (2xx, 4xx) ends the streak.
 */
export class FailureStreak {
  private n = 0;
  constructor(private readonly threshold = 3) {}
  answered(): void {
    this.n = 0;
  }
  failed(): void {
    this.n++;
  }
  get failing(): boolean {
    return this.n >= this.threshold;
  }
}

/** Gives every retry outcome `scope`, leaving the others as they are. */
export function scoped<T extends SinkOutcome | null>(outcomes: T[], scope: RetryScope): T[] {
  return outcomes.map((o) => (o && o.status === "retry" ? { ...o, scope } : o));
}
