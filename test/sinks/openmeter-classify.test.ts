import { STATUS_CODES } from "node:http";
import { HTTPError, OpenMeter } from "@openmeter/sdk";
import { describe, expect, it } from "vitest";
import type { EventOutcome } from "../../src/model/index.js";
import { demoSeed, startSandbox } from "../../src/sandbox/index.js";
import { classifyOpenMeterResponse, type OpenMeterAnswer, type OpenMeterClassification } from "../../src/sinks/openmeter/classify.js";

const URL_ = "http://openmeter.test/api/v1/events";
/** HTTPError as the SDK builds it for an application/problem+json answer. */
const problem = (status: number, detail: string) => {
  const title = STATUS_CODES[status]!;
  return new HTTPError(`Request failed (${URL_}) [${status}]: ${detail}`, "about:blank", title, status, URL_, { type: "about:blank", title, status, detail, instance: "urn:request:x" });
};
/** …and for any other content type: type and title are the status text. */
const plain = (status: number) => {
  const text = STATUS_CODES[status]!;
  return new HTTPError(`Request failed (${URL_}) [${status}]: ${text}`, text, text, status, URL_);
};

const D: EventOutcome = { status: "delivered" };
const rejected = (reason: string): EventOutcome => ({ status: "rejected", reason });
const retry = (reason: string, afterMs?: number): EventOutcome => ({ status: "retry", reason, ...(afterMs !== undefined ? { afterMs } : {}) });
const NOW = Date.parse("2024-07-10T10:00:00Z");
const PARTIAL = "OpenMeter 500 Internal Server Error: part of the batch may already be stored";

const table: { name: string; answer: OpenMeterAnswer; count: number; outcomes: (EventOutcome | null)[]; transient?: OpenMeterClassification["transient"] }[] = [
  { name: "204 (ingest resolves undefined)", answer: { resolved: undefined }, count: 3, outcomes: [D, D, D] },
  {
    name: "400 schema error on a batch: someone in it is bad, isolate",
    answer: { thrown: problem(400, 'request body has an error: doesn\'t match schema: Error at "/1/subject": minimum string length is 1') },
    count: 2,
    outcomes: [null, null],
  },
  {
    name: "400 on a single event: that event is bad",
    answer: { thrown: problem(400, 'request body has an error: doesn\'t match schema: Error at "/0/subject": minimum string length is 1') },
    count: 1,
    outcomes: [rejected('OpenMeter 400 Bad Request: request body has an error: doesn\'t match schema: Error at "/0/subject": minimum string length is 1')],
  },
  {
    name: "400 invalid content type: the request, not an event, is wrong",
    answer: { thrown: problem(400, "invalid content type: application/json; charset=utf-8") },
    count: 2,
    outcomes: [rejected("OpenMeter 400 Bad Request: invalid content type: application/json; charset=utf-8"), rejected("OpenMeter 400 Bad Request: invalid content type: application/json; charset=utf-8")],
  },
  { name: "429 with Retry-After seconds", transient: { scope: "destination", maybeStored: false }, answer: { thrown: problem(429, "rate limit exceeded"), headers: { "Retry-After": "2" } }, count: 1, outcomes: [retry("OpenMeter 429 Too Many Requests: rate limited", 2000)] },
  {
    name: "429 with Retry-After as an HTTP date", transient: { scope: "destination", maybeStored: false },
    answer: { thrown: problem(429, "rate limit exceeded"), headers: new Headers({ "retry-after": "Wed, 10 Jul 2024 10:00:09 GMT" }) },
    count: 1,
    outcomes: [retry("OpenMeter 429 Too Many Requests: rate limited", 9000)],
  },
  {
    name: "429 with only X-RateLimit-Reset (Unix time)", transient: { scope: "destination", maybeStored: false },
    answer: { thrown: plain(429), headers: { "X-RateLimit-Reset": String(NOW / 1000 + 6) } },
    count: 1,
    outcomes: [retry("OpenMeter 429: rate limited", 6000)],
  },
  { name: "429 without headers", transient: { scope: "destination", maybeStored: false }, answer: { thrown: plain(429), headers: null }, count: 1, outcomes: [retry("OpenMeter 429: rate limited")] },
  { name: "500 (partial ingest possible)", transient: { scope: "event", maybeStored: true }, answer: { thrown: problem(500, "") }, count: 2, outcomes: [retry(PARTIAL), retry(PARTIAL)] },
  { name: "503 problem", transient: { scope: "destination", maybeStored: true }, answer: { thrown: problem(503, "service unavailable") }, count: 1, outcomes: [retry("OpenMeter 503 Service Unavailable: service unavailable")] },
  { name: "502 HTML from a proxy", transient: { scope: "destination", maybeStored: true }, answer: { thrown: plain(502) }, count: 1, outcomes: [retry("OpenMeter 502: Bad Gateway")] },
  { name: "408", transient: { scope: "event", maybeStored: true }, answer: { thrown: problem(408, "context canceled") }, count: 1, outcomes: [retry("OpenMeter 408 Request Timeout: context canceled")] },
  { name: "401", answer: { thrown: problem(401, "unauthorized") }, count: 1, outcomes: [rejected("OpenMeter 401 Unauthorized: OpenMeter refused the API key")] },
  { name: "403", answer: { thrown: problem(403, "forbidden") }, count: 1, outcomes: [rejected("OpenMeter 403 Forbidden: forbidden")] },
  {
    name: "404 (wrong base URL)",
    answer: { thrown: plain(404) },
    count: 1,
    outcomes: [rejected("OpenMeter 404: no such endpoint; OPENMETER_URL should be the base URL, e.g. https://openmeter.cloud")],
  },
  { name: "412", answer: { thrown: problem(412, "precondition failed") }, count: 1, outcomes: [rejected("OpenMeter 412 Precondition Failed: precondition failed")] },
  {
    name: "network failure", transient: { scope: "destination", maybeStored: false },
    answer: { thrown: new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }) }) },
    count: 1,
    outcomes: [retry("network error talking to OpenMeter: fetch failed (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1)")],
  },
  {
    name: "deadline", transient: { scope: "event", maybeStored: true },
    answer: { thrown: new DOMException("This operation was aborted", "AbortError") },
    count: 1,
    outcomes: [retry("OpenMeter did not answer in time (the events may still have been stored)")],
  },
  {
    name: "connection reset: the handler may have run",
    transient: { scope: "event", maybeStored: true },
    answer: { thrown: new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) }) },
    count: 1,
    outcomes: [retry("network error talking to OpenMeter: fetch failed (UND_ERR_SOCKET: other side closed)")],
  },
  { name: "425", transient: { scope: "event", maybeStored: false }, answer: { thrown: problem(425, "too early") }, count: 1, outcomes: [retry("OpenMeter 425 Too Early: too early")] },
  { name: "anything else thrown", transient: { scope: "event", maybeStored: true }, answer: { thrown: "boom" }, count: 1, outcomes: [retry("unexpected error calling OpenMeter: boom")] },
];

describe("classifyOpenMeterResponse", () => {
  it.each(table)("$name", ({ answer, count, outcomes, transient }) => {
    expect(classifyOpenMeterResponse(answer, count, [], NOW)).toEqual({ outcomes, ...(transient ? { transient } : {}) });
  });

  it("removes secrets from reasons", () => {
    const key = "om_live/S3CRET";
    const [o] = classifyOpenMeterResponse({ thrown: problem(403, `key ${key} (${encodeURIComponent(key)}) may not ingest`) }, 1, [key]).outcomes;
    expect(o).toEqual(rejected("OpenMeter 403 Forbidden: key [redacted] ([redacted]) may not ingest"));
  });

  it("classifies what the real SDK throws the same way as the table's stand-ins", async () => {
    const sb = await startSandbox({ seed: demoSeed(["acme"], [{ metric: "m", valueProperty: "value" }]) });
    try {
      const om = new OpenMeter({ baseUrl: sb.openmeterUrl, apiKey: sb.openmeterApiKey });
      const ev = { id: "1", source: "tracebill", type: "m", subject: "acme", time: new Date(NOW), data: { value: 1 } };
      expect(classifyOpenMeterResponse({ resolved: await om.events.ingest([ev]) }, 1).outcomes).toEqual([D]);
      const bad = await om.events.ingest([ev, { ...ev, subject: "" }]).catch((x: unknown) => x);
      expect(bad).toBeInstanceOf(HTTPError);
      expect(classifyOpenMeterResponse({ thrown: bad }, 2).outcomes).toEqual([null, null]);
      const single = await om.events.ingest([{ ...ev, subject: "" }]).catch((x: unknown) => x);
      expect(classifyOpenMeterResponse({ thrown: single }, 1).outcomes[0]).toEqual(
        rejected('OpenMeter 400 Bad Request: request body has an error: doesn\'t match schema: Error at "/0/subject": minimum string length is 1'),
      );
      sb.setFaults({ openmeter: { html502: 1 } });
      const html = await om.events.ingest([ev]).catch((x: unknown) => x);
      expect(classifyOpenMeterResponse({ thrown: html }, 1).outcomes).toEqual([retry("OpenMeter 502: Bad Gateway")]);
      sb.setFaults({ openmeter: { status5xx: 1 } });
      const unavailable = await om.events.ingest([ev]).catch((x: unknown) => x);
      expect(classifyOpenMeterResponse({ thrown: unavailable }, 1).outcomes).toEqual([retry("OpenMeter 503 Service Unavailable: service unavailable")]);
    } finally {
      await sb.stop();
    }
  });
});
