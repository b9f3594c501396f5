import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventOutcome } from "../../src/model/index.js";
import { demoSeed, startSandbox, type Sandbox, type SandboxSeed } from "../../src/sandbox/index.js";
import { sendIsolating } from "../../src/sinks/openmeter/isolate.js";
import { createOpenMeterSink, openMeterBaseUrl } from "../../src/sinks/openmeter/openmeter-sink.js";
import type { BillingSink } from "../../src/sinks/sink.js";
import { billable, expectedTotals, METRIC, sortTotals, tally, WINDOW } from "./events.js";

const CUSTOMERS = ["acme", "globex", "initech"];

describe("OpenMeter sink against the sandbox (official SDK, real HTTP)", () => {
  let sb: Sandbox;
  let sink: BillingSink;
  const ingestRequests = () => sb.state.requests({ destination: "openmeter", method: "POST", path: "/api/v1/events" });

  const lookups = () => sb.state.requests({ destination: "openmeter", method: "GET", path: "/api/v2/events" });

  beforeEach(async () => {
    sb = await startSandbox({ seed: demoSeed(CUSTOMERS, [METRIC]) });
    // Short confirmation waits: the sandbox lists what it stored at once.
    sink = createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, confirmDelaysMs: [0, 10, 30] });
  });
  afterEach(() => sb.stop());

  it("delivers 250 events in 3 requests of exactly application/cloudevents-batch+json, with exact totals", async () => {
    const events = Array.from({ length: 250 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    expect(tally(await sink.send(events))).toEqual({ delivered: 250 });
    expect(ingestRequests().map((r) => [r.contentType, r.events])).toEqual([
      ["application/cloudevents-batch+json", 100],
      ["application/cloudevents-batch+json", 100],
      ["application/cloudevents-batch+json", 50],
    ]);
    expect(sortTotals(sb.state.openmeterTotals())).toEqual(expectedTotals(events));
    expect(sb.state.openmeterEvents()[1]).toMatchObject({
      id: events[1]!.id,
      source: "tracebill",
      specversion: "1.0",
      type: "llm_tokens",
      subject: "globex",
      // OpenMeter keeps seconds only.
      time: "2024-07-10T10:00:01Z",
      data: { value: 101, model: "claude-3-5-sonnet", type: "output" },
    });
  });

  it("rejects only the events that would make OpenMeter refuse the batch", async () => {
    const events = Array.from({ length: 10 }, (_, i) => billable(i));
    events[3] = billable(3, { customer: "" });
    events[7] = billable(7, { timestamp: "not a time" });
    events[8] = billable(8, { value: Number.NaN });
    const outcomes = await sink.send(events);
    expect(tally(outcomes)).toEqual({ delivered: 7, rejected: 3 });
    expect(outcomes[3]).toEqual({ status: "rejected", reason: "invalid CloudEvent: subject is empty" });
    expect(outcomes[7]).toEqual({ status: "rejected", reason: 'invalid CloudEvent: time is not an RFC 3339 date-time ("not a time")' });
    expect(outcomes[8]).toEqual({ status: "rejected", reason: "invalid CloudEvent: data.value is not a finite number" });
    expect(ingestRequests()).toHaveLength(1);
    expect(sb.state.openmeterEvents()).toHaveLength(7);
  });

  it("reports a re-send as delivered: OpenMeter cannot tell, and stores the copies when dedupe is off", async () => {
    const events = [billable(0), billable(1)];
    await sink.send(events);
    expect(tally(await sink.send(events))).toEqual({ delivered: 2 });
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(2);
    const totals = await sink.readTotals({ ...WINDOW, customers: ["acme"], metrics: [METRIC] });
    expect(totals.reduce((a, t) => a + t.value, 0)).toBe(2 * (100 + 101));
  });

  it("re-sends are harmless when the server dedupes (OpenMeter Cloud)", async () => {
    const dd = await startSandbox({ seed: demoSeed(["acme"], [METRIC]), openmeterDedupe: true });
    try {
      const s = createOpenMeterSink({ url: dd.openmeterUrl, apiKey: dd.openmeterApiKey });
      await s.send([billable(0), billable(1)]);
      expect(tally(await s.send([billable(0), billable(1)]))).toEqual({ delivered: 2 });
      expect(dd.state.openmeterEvents()).toHaveLength(2);
      expect(dd.state.counts().openmeter.duplicatesDropped).toBe(2);
    } finally {
      await dd.stop();
    }
  });

  it("answers retry with Retry-After on 429", async () => {
    sb.setFaults({ openmeter: { status429: 1, retryAfterSeconds: 3 } });
    // Nothing was ingested (no lookup), and the budget is the whole destination's.
    expect(await sink.send([billable(0)])).toEqual([{ status: "retry", reason: "OpenMeter 429 Too Many Requests: rate limited", afterMs: 3000, scope: "destination" }]);
    expect(lookups()).toEqual([]);
  });

  it.each([
    ["status5xx", /^OpenMeter 503 Service Unavailable: service unavailable; 0 of 2 confirmed stored by id, this one not found after 3 lookups$/, "destination"],
    ["html502", /^OpenMeter 502: Bad Gateway; 0 of 2 confirmed stored/, "destination"],
    ["reset", /^network error talking to OpenMeter: fetch failed .*; 0 of 2 confirmed stored/, "event"],
  ] as const)("answers retry on %s after confirming by id that nothing was stored, and the retry then delivers", async (fault, reason, scope) => {
    sb.setFaults({ openmeter: { [fault]: 1 } });
    const events = [billable(0), billable(1)];
    const outcomes = await sink.send(events);
    expect(outcomes.map((o) => o.status)).toEqual(["retry", "retry"]);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringMatching(reason), scope });
    expect(lookups()).toHaveLength(3);
    sb.setFaults({});
    expect(tally(await sink.send(events))).toEqual({ delivered: 2 });
    expect(sb.state.openmeterEvents()).toHaveLength(2);
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(0);
  });

  it("after a 500 that followed a partial store, reports the stored half delivered (confirmed by id) and only the rest as retry", async () => {
    sb.setFaults({ openmeter: { acceptThen500: 1 } });
    const outcomes = await sink.send([billable(0), billable(1), billable(2), billable(3)]);
    expect(outcomes).toEqual([
      { status: "delivered" },
      { status: "delivered" },
      { status: "retry", reason: "OpenMeter 500 Internal Server Error: part of the batch may already be stored; 2 of 4 confirmed stored by id, this one not found after 3 lookups", scope: "event" },
      { status: "retry", reason: "OpenMeter 500 Internal Server Error: part of the batch may already be stored; 2 of 4 confirmed stored by id, this one not found after 3 lookups", scope: "event" },
    ]);
    expect(sb.state.openmeterEvents()).toHaveLength(2);
  });

  it("bounds the confirmation: no lookup starts later than timeoutMs after the failure", async () => {
    sb.setFaults({ openmeter: { acceptThen500: 1 } });
    const bounded = createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, timeoutMs: 200, confirmDelaysMs: [0, 50, 10_000] });
    const started = Date.now();
    expect(tally(await bounded.send([billable(0), billable(1), billable(2)]))).toEqual({ delivered: 2, retry: 1 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(lookups()).toHaveLength(2);
  });

  it("answers retry when OpenMeter does not answer in time, and never re-sends an event it later finds stored", async () => {
    // The server stores the event after 300 ms; the sink gives up after 100 ms and looks at once.
    sb.setFaults({ openmeter: { slowMs: 300 } });
    const slow = createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, timeoutMs: 100, confirmDelaysMs: [0] });
    expect(await slow.send([billable(0)])).toEqual([
      { status: "retry", reason: "OpenMeter did not answer in time (the events may still have been stored); 0 of 1 confirmed stored by id, this one not found after 1 lookup", scope: "event" },
    ]);
    await expect.poll(() => sb.state.openmeterEvents().length).toBe(1);
    // The worker retries later: the event is looked up first, found, and not sent again.
    expect(await slow.send([billable(0)])).toEqual([{ status: "delivered" }]);
    expect(ingestRequests()).toHaveLength(1);
    expect(sb.state.counts().openmeter.duplicatesStored).toBe(0);
  });

  it("a confirmation wait longer than the server's delay finds a timed-out batch stored: delivered, nothing re-sent", async () => {
    // Timeout at 300 ms, stored at 400 ms, looked up at ~300 ms (missing) and ~500 ms (found).
    sb.setFaults({ openmeter: { slowMs: 400 } });
    const slow = createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, timeoutMs: 300, confirmDelaysMs: [0, 200] });
    expect(await slow.send([billable(0), billable(1)])).toEqual([{ status: "delivered" }, { status: "delivered" }]);
    expect(ingestRequests()).toHaveLength(1);
    expect(lookups()).toHaveLength(2);
  });

  it("sends nothing for an empty batch", async () => {
    expect(await sink.send([])).toEqual([]);
    expect(ingestRequests()).toEqual([]);
  });

  it.each(["", "/", "/api/v1", "/api/v1/"])("works with OPENMETER_URL = <sandbox>/openmeter%s", async (suffix) => {
    const s = createOpenMeterSink({ url: `${sb.openmeterUrl}${suffix}`, apiKey: sb.openmeterApiKey });
    expect(await s.send([billable(0)])).toEqual([{ status: "delivered" }]);
    expect((await s.healthcheck(["llm_tokens"], [])).ok).toBe(true);
  });

  it("normalizes the base URL for the SDK", () => {
    expect(openMeterBaseUrl("https://openmeter.cloud/")).toBe("https://openmeter.cloud");
    expect(openMeterBaseUrl("http://h:8888/api/v1")).toBe("http://h:8888");
  });

  it("healthcheck needs a SUM meter per metric, grouped by model", async () => {
    const seed: SandboxSeed = {
      openmeter: {
        meters: [
          { slug: "calls", eventType: "llm_calls", aggregation: "COUNT", groupBy: { model: "$.model" } },
          { slug: "flat", eventType: "llm_flat", aggregation: "SUM", valueProperty: "$.value" },
        ],
      },
    };
    const other = await startSandbox({ seed });
    try {
      const report = await createOpenMeterSink({ url: other.openmeterUrl, apiKey: other.openmeterApiKey }).healthcheck(["llm_tokens", "llm_calls", "llm_flat"], []);
      const problems = [
        'OpenMeter has no meter with eventType "llm_tokens"; its events are stored but counted only once such a meter exists',
        'OpenMeter meter "calls" for "llm_calls" aggregates with COUNT; tracebill sends quantities, which need SUM',
        'OpenMeter meter "flat" for "llm_flat" has no groupBy "model"; reconciliation reads totals per model',
      ];
      // Nothing blocks: OpenMeter stores events whatever their type, and a meter created later counts them.
      expect(report).toEqual({
        ok: false,
        problems,
        blocking: [],
        warnings: problems,
        issues: [
          { kind: "unknown_metric", severity: "warning", metric: "llm_tokens", message: problems[0] },
          { kind: "metric_mismatch", severity: "warning", metric: "llm_calls", message: problems[1] },
          { kind: "metric_mismatch", severity: "warning", metric: "llm_flat", message: problems[2] },
        ],
      });
    } finally {
      await other.stop();
    }
  });

  it("reads totals back per customer × metric × model, from inclusive, to exclusive, with event counts", async () => {
    const events = Array.from({ length: 150 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    const atFrom = billable(500, { timestamp: WINDOW.from.toISOString() });
    const atTo = billable(501, { timestamp: WINDOW.to.toISOString() });
    const noModel = billable(502, { properties: {} });
    const outsider = billable(503, { customer: "not-asked" });
    await sink.send([...events, atFrom, atTo, noModel, outsider]);
    const q = { ...WINDOW, customers: CUSTOMERS, metrics: [METRIC] };
    expect(sortTotals(await sink.readTotals(q))).toEqual(expectedTotals([...events, atFrom, noModel]));
    const sumsOnly = createOpenMeterSink({ url: sb.openmeterUrl, apiKey: sb.openmeterApiKey, countEvents: false });
    expect(sortTotals(await sumsOnly.readTotals(q))).toEqual(expectedTotals([...events, atFrom, noModel]).map((t) => ({ ...t, events: -1 })));
  });

  it("fails read-back loudly when no meter exists for a metric", async () => {
    await expect(sink.readTotals({ ...WINDOW, customers: ["acme"], metrics: [{ metric: "unmetered", valueProperty: "value" }] })).rejects.toThrow(
      'OpenMeter has no meter with eventType "unmetered"',
    );
  });
});

describe("sendIsolating", () => {
  /** A destination that refuses any request containing a "bad" item, without saying which. */
  const wholeRequestRefusal = (calls: string[][]) => async (items: string[]): Promise<(EventOutcome | null)[]> => {
    calls.push(items);
    if (items.some((i) => i.startsWith("bad"))) return items.map(() => null);
    return items.map(() => ({ status: "delivered" }));
  };

  it("halves a refused batch until only the culprits are rejected", async () => {
    const calls: string[][] = [];
    const items = ["a", "b", "bad1", "c", "d", "e", "bad2", "f"];
    const out = await sendIsolating(items, wholeRequestRefusal(calls), { left: 32 }, "refused");
    expect(out.map((o) => o.status)).toEqual(["delivered", "delivered", "rejected", "delivered", "delivered", "delivered", "rejected", "delivered"]);
    expect(calls.length).toBeLessThanOrEqual(1 + 2 * 2 * Math.ceil(Math.log2(items.length)));
  });

  it("stops splitting when the budget is spent", async () => {
    const calls: string[][] = [];
    const out = await sendIsolating(["bad", "a", "b", "c"], wholeRequestRefusal(calls), { left: 2 }, "refused");
    expect(calls).toEqual([["bad", "a", "b", "c"], ["bad", "a"], ["b", "c"]]);
    expect(out.map((o) => o.status)).toEqual(["rejected", "rejected", "delivered", "delivered"]);
  });
});
