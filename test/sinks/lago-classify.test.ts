import { STATUS_CODES } from "node:http";
import { Client, LagoRateLimitError } from "lago-javascript-client";
import { describe, expect, it } from "vitest";
import type { EventOutcome } from "../../src/model/index.js";
import { demoSeed, startSandbox } from "../../src/sandbox/index.js";
import { classifyLagoResponse, type LagoAnswer } from "../../src/sinks/lago/classify.js";

/** What the client throws on a non-2xx: the Response itself, `.error` = parsed JSON or the SyntaxError. */
function thrownResponse(status: number, body: string, headers: Record<string, string> = {}): Response {
  const r = new Response(body, { status, statusText: STATUS_CODES[status], headers: { "content-type": "application/json", ...headers } }) as Response & { data: unknown; error: unknown };
  r.data = null;
  try {
    r.error = JSON.parse(body);
  } catch (e) {
    r.error = e;
  }
  return r;
}
const envelope = (details: unknown) => JSON.stringify({ status: 422, error: "Unprocessable Entity", code: "validation_errors", error_details: details });
const networkError = (code: string, message: string) => new TypeError("fetch failed", { cause: Object.assign(new Error(message), { code }) });

const D: EventOutcome = { status: "delivered" };
const DUP: EventOutcome = { status: "duplicate" };
const rejected = (reason: string): EventOutcome => ({ status: "rejected", reason });
const retry = (reason: string, afterMs?: number): EventOutcome => ({ status: "retry", reason, ...(afterMs !== undefined ? { afterMs } : {}) });

const EV = { scope: "event" as const };
const DEST = { scope: "destination" as const };

const table: { name: string; answer: LagoAnswer; count: number; outcomes: (EventOutcome | null)[]; tooLarge?: boolean; transient?: typeof EV | typeof DEST }[] = [
  { name: "200 echoing every event", answer: { resolved: { status: 200, data: { events: [{}, {}] } } }, count: 2, outcomes: [D, D] },
  { name: "200 on the single endpoint", answer: { resolved: { status: 200, data: { event: {} } } }, count: 1, outcomes: [D] },
  {
    name: "2xx without the events (a proxy's HTML 200)", transient: EV,
    answer: { resolved: { status: 200, data: null } },
    count: 2,
    outcomes: [retry("Lago answered 2xx without the list of accepted events"), retry("Lago answered 2xx without the list of accepted events")],
  },
  {
    name: "422 index-keyed: duplicate, shape error, and events Lago did not judge",
    answer: { thrown: thrownResponse(422, envelope({ "0": { transaction_id: ["value_already_exist"] }, "2": { timestamp: ["invalid_format"], code: ["value_is_mandatory"] } })) },
    count: 4,
    outcomes: [DUP, null, rejected("Lago refused the event (422): timestamp invalid_format; code value_is_mandatory"), null],
  },
  {
    name: "422 duplicate next to another error on the same event is a rejection",
    answer: { thrown: thrownResponse(422, envelope({ "0": { transaction_id: ["value_already_exist"], timestamp: ["invalid_format"] } })) },
    count: 1,
    outcomes: [rejected("Lago refused the event (422): transaction_id value_already_exist; timestamp invalid_format")],
  },
  {
    name: "422 expression failure (a string, not field errors)",
    answer: { thrown: thrownResponse(422, envelope({ "1": "expression_evaluation_failed: undefined variable" })) },
    count: 2,
    outcomes: [null, rejected("Lago refused the event (422): expression_evaluation_failed: undefined variable")],
  },
  {
    name: "422 from the single endpoint (no index)",
    answer: { thrown: thrownResponse(422, envelope({ transaction_id: ["value_already_exist"] })) },
    count: 1,
    outcomes: [DUP],
  },
  { name: "422 too_many_events", answer: { thrown: thrownResponse(422, envelope({ events: ["too_many_events"] })) }, count: 3, outcomes: [null, null, null], tooLarge: true },
  {
    name: "422 no_events",
    answer: { thrown: thrownResponse(422, envelope({ events: ["no_events"] })) },
    count: 1,
    outcomes: [rejected('Lago refused the batch (422): Unprocessable Entity validation_errors {"events":["no_events"]}')],
  },
  {
    name: "429 with X-RateLimit-Reset (seconds)", transient: DEST,
    answer: { thrown: thrownResponse(429, "{}", { "x-ratelimit-limit": "500", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2" }) },
    count: 1,
    outcomes: [retry("Lago 429 Too Many Requests: rate limited", 2000)],
  },
  { name: "429 with Retry-After only", transient: DEST, answer: { thrown: thrownResponse(429, "", { "retry-after": "5" }) }, count: 1, outcomes: [retry("Lago 429 Too Many Requests: rate limited", 5000)] },
  { name: "429 without headers", transient: DEST, answer: { thrown: thrownResponse(429, "") }, count: 1, outcomes: [retry("Lago 429 Too Many Requests: rate limited")] },
  { name: "LagoRateLimitError (client retry exhausted)", transient: DEST, answer: { thrown: new LagoRateLimitError(500, 0, 3) }, count: 1, outcomes: [retry("Lago 429: rate limited (limit 500, remaining 0)", 3000)] },
  { name: "LagoRateLimitError without a reset header", transient: DEST, answer: { thrown: new LagoRateLimitError(-1, 0, -1) }, count: 1, outcomes: [retry("Lago 429: rate limited (limit -1, remaining 0)")] },
  {
    name: "500 JSON", transient: EV,
    answer: { thrown: thrownResponse(500, JSON.stringify({ status: 500, error: "Internal Server Error" })) },
    count: 1,
    outcomes: [retry("Lago 500 Internal Server Error: Internal Server Error (the batch may already be committed; re-sending is safe, Lago answers value_already_exist)")],
  },
  { name: "503 JSON", transient: DEST, answer: { thrown: thrownResponse(503, JSON.stringify({ status: 503, error: "Service Unavailable" })) }, count: 1, outcomes: [retry("Lago 503 Service Unavailable: Service Unavailable")] },
  { name: "502 HTML from a proxy", transient: DEST, answer: { thrown: thrownResponse(502, "<html><body>Bad Gateway</body></html>", { "content-type": "text/html" }) }, count: 1, outcomes: [retry("Lago 502 Bad Gateway: non-JSON body")] },
  { name: "401", answer: { thrown: thrownResponse(401, JSON.stringify({ status: 401, error: "Unauthorized" })) }, count: 1, outcomes: [rejected("Lago 401 Unauthorized: Lago refused the API key")] },
  {
    name: "403 permission",
    answer: { thrown: thrownResponse(403, JSON.stringify({ status: 403, error: "Forbidden", code: "write_action_not_allowed_for_event" })) },
    count: 1,
    outcomes: [rejected("Lago 403 Forbidden: the API key may not write events (Forbidden write_action_not_allowed_for_event)")],
  },
  {
    name: "404 (wrong API root)",
    answer: { thrown: thrownResponse(404, "<html>nope</html>", { "content-type": "text/html" }) },
    count: 1,
    outcomes: [rejected("Lago 404 Not Found: no such endpoint; LAGO_API_URL should be the API root, e.g. https://api.getlago.com")],
  },
  {
    name: "400 missing root key",
    answer: { thrown: thrownResponse(400, JSON.stringify({ status: 400, error: "BadRequest: param is missing or the value is empty: events" })) },
    count: 1,
    outcomes: [rejected("Lago 400 Bad Request: BadRequest: param is missing or the value is empty: events")],
  },
  {
    name: "network failure (fetch TypeError)", transient: EV,
    answer: { thrown: networkError("ECONNRESET", "read ECONNRESET") },
    count: 2,
    outcomes: [retry("network error talking to Lago: fetch failed (ECONNRESET: read ECONNRESET)"), retry("network error talking to Lago: fetch failed (ECONNRESET: read ECONNRESET)")],
  },
  {
    name: "deadline (AbortSignal.timeout)", transient: EV,
    answer: { thrown: new DOMException("The operation was aborted due to timeout", "TimeoutError") },
    count: 1,
    outcomes: [retry("Lago did not answer in time (the request may still have been committed)")],
  },
  {
    name: "connection refused: nothing listening, the destination is down",
    transient: DEST,
    answer: { thrown: networkError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1") },
    count: 1,
    outcomes: [retry("network error talking to Lago: fetch failed (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1)")],
  },
  {
    name: "DNS failure, wrapped in an AggregateError",
    transient: DEST,
    answer: { thrown: new TypeError("fetch failed", { cause: Object.assign(new AggregateError([Object.assign(new Error("getaddrinfo ENOTFOUND lago.invalid"), { code: "ENOTFOUND" })], "x"), {}) }) },
    count: 1,
    outcomes: [retry("network error talking to Lago: fetch failed (x)")],
  },
  { name: "anything else thrown", transient: EV, answer: { thrown: new Error("boom") }, count: 1, outcomes: [retry("unexpected error calling Lago: boom")] },
];

describe("classifyLagoResponse", () => {
  it.each(table)("$name", ({ answer, count, outcomes, tooLarge, transient }) => {
    expect(classifyLagoResponse(answer, count, [], 0)).toEqual({ outcomes, tooLarge: tooLarge ?? false, ...(transient ? { transient } : {}) });
  });

  it("resolves Retry-After given as an HTTP date against the clock it is handed", () => {
    const now = Date.parse("2024-07-10T10:00:00Z");
    const answer = { thrown: thrownResponse(429, "", { "retry-after": "Wed, 10 Jul 2024 10:00:07 GMT" }) };
    expect(classifyLagoResponse(answer, 1, [], now).outcomes[0]).toMatchObject({ afterMs: 7000 });
  });

  it("removes secrets from reasons, in every encoding", () => {
    const key = "lago/live+S3CRET=";
    const answer = { thrown: thrownResponse(400, JSON.stringify({ status: 400, error: `bad token ${key} / ${encodeURIComponent(key)}` })) };
    const [o] = classifyLagoResponse(answer, 1, [key]).outcomes;
    expect(o).toEqual(rejected("Lago 400 Bad Request: bad token [redacted] / [redacted]"));
  });

  it("classifies what the real client throws the same way as the table's stand-ins", async () => {
    const sb = await startSandbox({ seed: demoSeed(["acme"], [{ metric: "m", valueProperty: "value" }]) });
    try {
      const client = Client(sb.lagoApiKey, { baseUrl: `${sb.lagoApiUrl}/api/v1` });
      const e = { transaction_id: "t1", external_subscription_id: "sub_acme", code: "m", timestamp: 1720605600 };
      const ok = await client.events.createBatchEvents({ events: [e] });
      expect(classifyLagoResponse({ resolved: ok }, 1).outcomes).toEqual([D]);
      const thrown = await client.events.createBatchEvents({ events: [{ ...e, transaction_id: "t2" }, e] }).catch((x: unknown) => x);
      expect(classifyLagoResponse({ thrown }, 2).outcomes).toEqual([null, DUP]);
      sb.setFaults({ lago: { html502: 1 } });
      const html = await client.events.createBatchEvents({ events: [e] }).catch((x: unknown) => x);
      expect(classifyLagoResponse({ thrown: html }, 1).outcomes).toEqual([retry("Lago 502 Bad Gateway: non-JSON body")]);
      sb.setFaults({ lago: { reset: 1 } });
      const reset = await client.events.createBatchEvents({ events: [e] }).catch((x: unknown) => x);
      expect(classifyLagoResponse({ thrown: reset }, 1).outcomes[0]).toMatchObject({ status: "retry", reason: expect.stringMatching(/^network error talking to Lago: fetch failed/) });
      const limited = Client(sb.lagoApiKey, { baseUrl: `${sb.lagoApiUrl}/api/v1`, rateLimitRetry: { maxRetries: 0 } });
      sb.setFaults({ lago: { status429: 1, retryAfterSeconds: 4 } });
      const rl = await limited.events.createBatchEvents({ events: [e] }).catch((x: unknown) => x);
      expect(rl).toBeInstanceOf(LagoRateLimitError);
      expect(classifyLagoResponse({ thrown: rl }, 1).outcomes).toEqual([retry("Lago 429: rate limited (limit 500, remaining 0)", 4000)]);
    } finally {
      await sb.stop();
    }
  });
});
