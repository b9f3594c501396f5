/**
 * @module Pure classification of what `@openmeter/sdk` gave back for one ingest request
 * (openmeter.md §1.6, §6.4). The SDK throws `HTTPError` for every status ≥ 400 (with the problem
 * `detail` only when the content type is exactly application/problem+json), fetch's `TypeError`
 * on network failure and `AbortError`/`TimeoutError` on a deadline. It never exposes response
 * headers, so the sink captures them (for Retry-After) and hands them in here.
 */
import { HTTPError } from "@openmeter/sdk";
import type { EventOutcome } from "../../model/index.js";
import { neverReached, statusScope } from "../outage.js";
import { clip, describeNetworkError, headerOf, isAbort, redact, retryAfterMs } from "../secrets.js";
import type { RetryScope } from "../sink.js";

export type OpenMeterAnswer = { resolved: unknown } | { thrown: unknown; headers?: Headers | Record<string, string> | null };

export interface OpenMeterClassification {
  /**
   * One entry per event of the request. `null` = OpenMeter refused the whole request because of
   * some event in it (schema validation runs on the whole body); isolate and re-send.
   */
  outcomes: (EventOutcome | null)[];
  /**
   * Present when the request failed transiently (the outcomes are `retry`): whether the failure is
   * about the destination as a whole, and whether some events of the request may nevertheless be
   * stored (5xx, timeout, reset: confirm by id before re-sending).
   */
  transient?: { scope: RetryScope; maybeStored: boolean };
}

interface HttpErrorLike {
  status: number;
  title?: string;
  message: string;
  getField?: (k: string) => unknown;
}

const isHttpError = (e: unknown): e is HttpErrorLike =>
  e instanceof HTTPError || (e instanceof Error && e.name === "HTTPError" && typeof (e as { status?: unknown }).status === "number");
const all = (count: number, o: EventOutcome | null): OpenMeterClassification => ({ outcomes: Array.from({ length: count }, () => o) });
const failed = (count: number, reason: string, scope: RetryScope, maybeStored: boolean, afterMs?: number): OpenMeterClassification => ({
  ...all(count, { status: "retry", reason, ...(afterMs !== undefined ? { afterMs } : {}) }),
  transient: { scope, maybeStored },
});

/** The problem's `detail`, else what follows "[status]: " in the SDK's message (status text for non-problem bodies). */
function detailOf(e: HttpErrorLike): string {
  const d = e.getField?.("detail");
  if (typeof d === "string") return d;
  const m = /\[\d{3}\]: ([\s\S]*)$/.exec(e.message);
  return m ? m[1]! : e.message;
}

function classifyHttp(e: HttpErrorLike, count: number, headers: Headers | Record<string, string> | null | undefined, nowMs: number): OpenMeterClassification {
  const s = e.status;
  const detail = detailOf(e);
  const what = `OpenMeter ${s}${e.title && e.title !== detail ? ` ${e.title}` : ""}`;
  if (s === 400) {
    // A content-type refusal is about the request, not any event: isolating would only multiply it.
    if (count > 1 && !detail.startsWith("invalid content type")) return all(count, null);
    return all(count, { status: "rejected", reason: `${what}: ${detail}` });
  }
  if (s === 429) {
    let afterMs = retryAfterMs(headerOf(headers, "retry-after"), nowMs);
    // OpenMeter Cloud's X-RateLimit-Reset is a Unix time (openmeter.md §5.3).
    const reset = headerOf(headers, "x-ratelimit-reset");
    if (afterMs === undefined && reset !== null && /^\d+$/.test(reset.trim())) afterMs = Math.max(0, Number(reset) * 1000 - nowMs);
    // Nothing was ingested; the budget is the organization's, so the whole destination waits.
    return failed(count, `${what}: rate limited`, "destination", false, afterMs);
  }
  if (s === 500) {
    // The handler forwards events one by one and stops at the first failure (openmeter.md §1.4).
    return failed(count, `${what}: part of the batch may already be stored`, "event", true);
  }
  // A gateway's 502/504 may hide a request the server completed; 408 is a cancelled handler (openmeter.md §1.6).
  if (s >= 500 || s === 408) return failed(count, `${what}${detail ? `: ${detail}` : ""}`, statusScope(s), true);
  if (s === 425) return failed(count, `${what}${detail ? `: ${detail}` : ""}`, "event", false);
  if (s === 401) return all(count, { status: "rejected", reason: `${what}: OpenMeter refused the API key` });
  if (s === 404) return all(count, { status: "rejected", reason: `${what}: no such endpoint; OPENMETER_URL should be the base URL, e.g. https://openmeter.cloud` });
  return all(count, { status: "rejected", reason: `${what}: ${detail}` });
}

function classifyRaw(answer: OpenMeterAnswer, count: number, nowMs: number): OpenMeterClassification {
  // ingest resolves (to undefined) only on 2xx; the SDK turns everything else into a throw.
  if ("resolved" in answer) return all(count, { status: "delivered" });
  const e = answer.thrown;
  if (isHttpError(e)) return classifyHttp(e, count, answer.headers ?? null, nowMs);
  if (isAbort(e)) return failed(count, "OpenMeter did not answer in time (the events may still have been stored)", "event", true);
  if (e instanceof TypeError) {
    // Refused or unresolvable: the request never left; a reset may have come after the handler ran.
    const unreachable = neverReached(e);
    return failed(count, `network error talking to OpenMeter: ${describeNetworkError(e)}`, unreachable ? "destination" : "event", !unreachable);
  }
  return failed(count, `unexpected error calling OpenMeter: ${e instanceof Error ? e.message : String(e)}`, "event", true);
}

/** Pure: one client answer → one outcome per event of the request, secrets removed from every reason. */
export function classifyOpenMeterResponse(answer: OpenMeterAnswer, count: number, secrets: readonly string[] = [], nowMs = 0): OpenMeterClassification {
  const c = classifyRaw(answer, count, nowMs);
  return { ...c, outcomes: c.outcomes.map((o) => (o && "reason" in o ? { ...o, reason: clip(redact(o.reason, secrets), 500) } : o)) };
}

/** One line for a failed read (healthcheck, read-back), secrets removed. */
export function describeOpenMeterFailure(thrown: unknown, secrets: readonly string[]): string {
  if (isHttpError(thrown) && thrown.status !== 401) {
    return clip(redact(`OpenMeter ${thrown.status}: ${detailOf(thrown)}`, secrets), 500);
  }
  const o = classifyOpenMeterResponse({ thrown }, 1, secrets).outcomes[0];
  return o && "reason" in o ? o.reason : "OpenMeter refused the request";
}
