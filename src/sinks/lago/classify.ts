/**
 * @module Pure classification of what the Lago client gave back for one request, into one
 * outcome per event of that request (lago.md §2.2, §2.3, §8.3, §8.4).
 *
 * The client throws on every non-2xx: the thrown value is the fetch `Response` itself, with the
 * parsed JSON body in `.error` (or the SyntaxError when the body was not JSON, e.g. a proxy's
 * HTML 502). Network failures are fetch's `TypeError`, deadlines are `AbortError`/`TimeoutError`,
 * and a 429 becomes `LagoRateLimitError` only when the client's own retry is switched on.
 */
import { LagoRateLimitError } from "lago-javascript-client";
import type { EventOutcome } from "../../model/index.js";
import { neverReached, statusScope } from "../outage.js";
import { clip, describeNetworkError, headerOf, isAbort, redact, retryAfterMs } from "../secrets.js";
import type { RetryScope } from "../sink.js";

/** What one client call produced: the resolved response, or whatever it threw. */
export type LagoAnswer = { resolved: unknown } | { thrown: unknown };

export interface LagoClassification {
  /**
   * One entry per event of the request, in order. `null` = Lago did not judge this event: the
   * batch was refused (all-or-nothing) because of others, so it must be sent again without them.
   */
  outcomes: (EventOutcome | null)[];
  /** Lago refused the batch size (`too_many_events`; self-hosted limits can be lower than 100): split and re-send. */
  tooLarge: boolean;
  /** Present when the request failed transiently (the outcomes are `retry`): whom the failure is about. */
  transient?: { scope: RetryScope };
}

interface ResponseLike {
  status: number;
  statusText?: string;
  error?: unknown;
  data?: unknown;
  headers?: Headers | Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isResponseLike = (v: unknown): v is ResponseLike => isObject(v) && typeof v.status === "number";
const isRateLimitError = (v: unknown): v is LagoRateLimitError => v instanceof LagoRateLimitError || (v instanceof Error && v.name === "LagoRateLimitError");
const all = (count: number, o: EventOutcome): LagoClassification => ({ outcomes: Array.from({ length: count }, () => o), tooLarge: false });
const failed = (count: number, reason: string, scope: RetryScope, afterMs?: number): LagoClassification => ({
  ...all(count, { status: "retry", reason, ...(afterMs !== undefined ? { afterMs } : {}) }),
  transient: { scope },
});

/** "timestamp invalid_format; code value_is_mandatory" from `{"timestamp":["invalid_format"], ...}`. */
function fieldErrors(entry: unknown): string {
  if (typeof entry === "string") return entry;
  if (!isObject(entry)) return JSON.stringify(entry);
  return Object.entries(entry)
    .map(([field, codes]) => `${field} ${Array.isArray(codes) ? codes.join(",") : JSON.stringify(codes)}`)
    .join("; ");
}

function bodyText(body: unknown): string {
  if (body instanceof Error) return "non-JSON body";
  if (isObject(body)) {
    const parts = [body.error, body.code].filter((x) => typeof x === "string");
    const details = body.error_details === undefined ? "" : ` ${JSON.stringify(body.error_details)}`;
    return parts.length ? `${parts.join(" ")}${details}` : JSON.stringify(body);
  }
  return typeof body === "string" ? body : body === undefined || body === null ? "" : JSON.stringify(body);
}

function isDuplicate(entry: unknown): boolean {
  if (!isObject(entry)) return false;
  const fields = Object.keys(entry);
  const tx = entry.transaction_id;
  return fields.length === 1 && Array.isArray(tx) && tx.length > 0 && tx.every((c) => c === "value_already_exist");
}

function classify422(body: unknown, count: number): LagoClassification {
  const details = isObject(body) ? body.error_details : undefined;
  if (isObject(details)) {
    const events = details.events;
    if (Array.isArray(events) && events.includes("too_many_events")) return { outcomes: Array.from({ length: count }, () => null), tooLarge: true };
    const keys = Object.keys(details);
    const indexed = keys.length > 0 && keys.every((k) => /^\d+$/.test(k));
    // The single-event endpoint reports field errors without an index.
    const byIndex: Record<string, unknown> = indexed ? details : count === 1 && !("events" in details) ? { "0": details } : {};
    if (Object.keys(byIndex).length) {
      const outcomes: (EventOutcome | null)[] = Array.from({ length: count }, () => null);
      for (const [k, entry] of Object.entries(byIndex)) {
        const i = Number(k);
        if (i >= count) continue;
        outcomes[i] = isDuplicate(entry) ? { status: "duplicate" } : { status: "rejected", reason: `Lago refused the event (422): ${fieldErrors(entry)}` };
      }
      return { outcomes, tooLarge: false };
    }
  }
  return all(count, { status: "rejected", reason: `Lago refused the batch (422): ${bodyText(body)}` });
}

function classifyStatus(r: ResponseLike, count: number, nowMs: number): LagoClassification {
  const s = r.status;
  const body = r.error;
  const what = `Lago ${s}${r.statusText ? ` ${r.statusText}` : ""}`;
  const text = bodyText(body);
  if (s === 422) return classify422(body, count);
  if (s === 429) {
    // X-RateLimit-Reset is "seconds until the window resets" (lago.md §0.4); Retry-After is not documented but honoured.
    const reset = headerOf(r.headers, "x-ratelimit-reset");
    const afterMs = reset !== null && /^\d+(\.\d+)?$/.test(reset.trim()) ? Math.round(Number(reset) * 1000) : retryAfterMs(headerOf(r.headers, "retry-after"), nowMs);
    // Lago's limits are per organization: every key and request shares the budget.
    return failed(count, `${what}: rate limited`, "destination", afterMs);
  }
  if (s >= 500) {
    const hint = s === 500 ? " (the batch may already be committed; re-sending is safe, Lago answers value_already_exist)" : "";
    return failed(count, `${what}${text ? `: ${text}` : ""}${hint}`, statusScope(s));
  }
  if (s === 408 || s === 425) return failed(count, `${what}: ${text}`, "event");
  if (s === 401) return all(count, { status: "rejected", reason: `${what}: Lago refused the API key` });
  if (s === 403) return all(count, { status: "rejected", reason: `${what}: the API key may not write events (${text})` });
  if (s === 404) return all(count, { status: "rejected", reason: `${what}: no such endpoint; LAGO_API_URL should be the API root, e.g. https://api.getlago.com` });
  if (s >= 400) return all(count, { status: "rejected", reason: `${what}: ${text}` });
  return failed(count, `${what}: unexpected status`, "event");
}

function classifyResolved(resolved: unknown, count: number): LagoClassification {
  const data = isResponseLike(resolved) ? resolved.data : resolved;
  // A 2xx must echo the events; anything else (e.g. a captive proxy's HTML 200) proves nothing.
  const events = isObject(data) ? (Array.isArray(data.events) ? data.events : isObject(data.event) ? [data.event] : null) : null;
  if (events && events.length === count) return all(count, { status: "delivered" });
  return failed(count, "Lago answered 2xx without the list of accepted events", "event");
}

/**
 * Pure: maps one client answer to one outcome per event of the request. `secrets` are removed
 * from every reason; `nowMs` only matters for an HTTP-date Retry-After.
 */
export function classifyLagoResponse(answer: LagoAnswer, count: number, secrets: readonly string[] = [], nowMs = 0): LagoClassification {
  const c = classifyRaw(answer, count, nowMs);
  return {
    ...c,
    outcomes: c.outcomes.map((o) => (o && "reason" in o ? { ...o, reason: clip(redact(o.reason, secrets), 500) } : o)),
  };
}

function classifyRaw(answer: LagoAnswer, count: number, nowMs: number): LagoClassification {
  if ("resolved" in answer) return classifyResolved(answer.resolved, count);
  const e = answer.thrown;
  if (isRateLimitError(e)) {
    return failed(count, `Lago 429: rate limited (limit ${e.limit}, remaining ${e.remaining})`, "destination", e.reset > 0 ? e.retryAfter : undefined);
  }
  if (isResponseLike(e)) return classifyStatus(e, count, nowMs);
  if (isAbort(e)) return failed(count, "Lago did not answer in time (the request may still have been committed)", "event");
  if (e instanceof TypeError) return failed(count, `network error talking to Lago: ${describeNetworkError(e)}`, neverReached(e) ? "destination" : "event");
  const message = e instanceof Error ? e.message : String(e);
  return failed(count, `unexpected error calling Lago: ${message}`, "event");
}

/** One line for a failed read (healthcheck, read-back), secrets removed. */
export function describeLagoFailure(thrown: unknown, secrets: readonly string[]): string {
  if (isResponseLike(thrown) && thrown.status !== 401 && thrown.status !== 404 && thrown.status !== 429) {
    const text = `Lago ${thrown.status}${thrown.statusText ? ` ${thrown.statusText}` : ""}: ${bodyText(thrown.error)}`;
    return clip(redact(text, secrets), 500);
  }
  const o = classifyLagoResponse({ thrown }, 1, secrets).outcomes[0];
  return o && "reason" in o ? o.reason : "Lago refused the request";
}
