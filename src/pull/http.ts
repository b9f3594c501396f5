import type { z } from "zod";
import { UserError } from "../model/index.js";
import { systemClock, type Clock } from "./clock.js";
import { TokenBucket, resetInstant, retryAfterMs } from "./rate-limit.js";

/** How a pull client spends its request budget and survives a flaky API. */
export interface ApiTuning {
  /** Client-side budget; keep it at or under the platform's limit for the plan (Langfuse Hobby: 30). */
  requestsPerMinute: number;
  /** Requests that may go out back to back before the budget spaces them (default 1). */
  burst?: number;
  /** Per request, including reading the body (default 30 s). */
  timeoutMs?: number;
  /** Attempts per request, first one included (default 6). */
  maxAttempts?: number;
  /** First backoff step for 5xx and network errors; doubles per attempt, with jitter (default 1 s). */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
  /**
   * A server that asks for a longer pause than this fails the request instead of parking the
   * puller (default 15 min); the watermark has not moved, so the next run resumes the window.
   */
  maxRetryAfterMs?: number;
  clock?: Clock;
  random?: () => number;
  fetch?: typeof fetch;
  /** Told about every retry (for logs); carries no headers and no secrets. */
  onRetry?: (notice: RetryNotice) => void;
}

export interface RetryNotice {
  service: string;
  method: string;
  path: string;
  attempt: number;
  status: number | null;
  waitMs: number;
  reason: string;
}

/**
 * A platform API call that failed for good. The message names the service, method, path and
 * status with the server's own words, scrubbed of every configured secret, so it is safe to print.
 */
export class PullApiError extends UserError {
  override name = "PullApiError";
  constructor(message: string, readonly status: number | null, readonly retryable: boolean) {
    super(message);
  }
}

export interface ApiHttpOptions extends ApiTuning {
  /** "Langfuse" or "LangSmith", for messages. */
  service: string;
  baseUrl: string;
  /** Auth headers, sent on every request and never printed. */
  headers: Record<string, string>;
  /** Values that must never appear in an error or notice (keys, and encoded forms of them). */
  secrets: string[];
  /** Appended to 401/403 messages: which settings to check. */
  authHint: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  /** Answer undefined on 404 instead of failing (a trace deleted since it was referenced). */
  allow404?: boolean;
}

const BODY_SNIPPET = 300;

/** JSON over fetch with a token bucket, Retry-After, bounded retries and secret-free errors. */
export class ApiHttp {
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly base: string;
  private readonly secrets: string[];

  constructor(private readonly opts: ApiHttpOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.fetchFn = opts.fetch ?? fetch;
    this.bucket = new TokenBucket({ perMinute: opts.requestsPerMinute, burst: opts.burst, clock: this.clock });
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new UserError(`${opts.service}: the API URL is not an absolute URL`);
    }
    if (url.username || url.password) {
      throw new UserError(`${opts.service}: the API URL must not carry credentials; ${opts.authHint}`);
    }
    this.base = url.toString().replace(/\/+$/, "");
    this.secrets = opts.secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  }

  async json(method: "GET" | "POST", path: string, req: RequestOptions = {}): Promise<unknown> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const where = `${this.opts.service} ${method} ${url.pathname}`;
    const max = this.opts.maxAttempts ?? 6;
    const headers: Record<string, string> = { accept: "application/json", ...this.opts.headers };
    if (req.body !== undefined) headers["content-type"] = "application/json";

    for (let attempt = 1; ; attempt++) {
      await this.bucket.take();
      let failure: { status: number | null; reason: string; hintMs: number | null };
      try {
        const res = await this.fetchFn(url, {
          method,
          headers,
          body: req.body === undefined ? undefined : JSON.stringify(req.body),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        this.noteBudget(res.headers);
        if (res.ok) return await this.parse(res, where);
        if (res.status === 404 && req.allow404) {
          await res.body?.cancel();
          return undefined;
        }
        const text = this.scrub(await res.text().catch(() => ""));
        const reason = `${res.status} ${res.statusText}${text ? `: ${snippet(text)}` : ""}`;
        if (!isRetryableStatus(res.status)) {
          const hint = res.status === 401 || res.status === 403 ? ` — ${this.opts.authHint}` : "";
          throw new PullApiError(`${where} failed: ${reason}${hint}`, res.status, false);
        }
        failure = { status: res.status, reason, hintMs: retryAfterMs(res.headers, this.clock.now()) };
      } catch (e) {
        if (e instanceof PullApiError) throw e;
        failure = { status: null, reason: `network error (${this.scrub(describeNetworkError(e))})`, hintMs: null };
      }

      if (attempt >= max) {
        throw new PullApiError(`${where} failed after ${attempt} attempts: ${failure.reason}`, failure.status, true);
      }
      const limit = this.opts.maxRetryAfterMs ?? 15 * 60_000;
      if (failure.hintMs !== null && failure.hintMs > limit) {
        throw new PullApiError(
          `${where}: the server asks to wait ${Math.ceil(failure.hintMs / 1000)} s, more than the ${Math.ceil(limit / 1000)} s this pull waits; it resumes on the next run (${failure.reason})`,
          failure.status,
          true,
        );
      }
      const waitMs = failure.hintMs !== null ? failure.hintMs + Math.round(this.random() * 250) : this.backoff(attempt);
      // Other requests of this client would only collect 429s meanwhile.
      if (failure.hintMs !== null) this.bucket.holdUntil(this.clock.now() + waitMs);
      this.opts.onRetry?.({ service: this.opts.service, method, path: url.pathname, attempt, status: failure.status, waitMs, reason: failure.reason });
      await this.clock.sleep(waitMs);
    }
  }

  private async parse(res: Response, where: string): Promise<unknown> {
    const text = await res.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new PullApiError(`${where}: the response is not JSON: ${snippet(this.scrub(text))}`, res.status, false);
    }
  }

  /** A response that spends the last request of the window holds the next one until the reset. */
  private noteBudget(h: Headers): void {
    const remaining = h.get("x-ratelimit-remaining");
    const reset = h.get("x-ratelimit-reset");
    if (remaining === null || reset === null || Number(remaining) > 0) return;
    const at = resetInstant(reset, this.clock.now());
    if (at !== null) this.bucket.holdUntil(at);
  }

  /** Equal jitter: half the exponential step fixed, half random, so retries of many pullers spread. */
  private backoff(attempt: number): number {
    const step = Math.min(this.opts.maxBackoffMs ?? 60_000, (this.opts.backoffBaseMs ?? 1000) * 2 ** (attempt - 1));
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  private scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join("[redacted]");
    return out;
  }
}

/** 408/425/429 and 5xx are worth another try; other 4xx will answer the same again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > BODY_SNIPPET ? `${flat.slice(0, BODY_SNIPPET)}…` : flat;
}

function describeNetworkError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? e.message;
}

/** Shape check of a response; a mismatch means a different API version, not a transient fault. */
export function expectShape<T>(service: string, schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue?.path.length ? issue.path.join(".") : "(root)";
  throw new PullApiError(`${service} ${what}: unexpected response shape at ${at}: ${issue?.message ?? "invalid"}`, 200, false);
}
