import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createLagoSink, lagoSdkBaseUrl } from "../../src/sinks/lago/lago-sink.js";
import type { BillingSink } from "../../src/sinks/sink.js";
import { billable, expectedTotals, METRIC, sendUntilSettled, sortTotals, tally, WINDOW } from "./events.js";

const CUSTOMERS = ["acme", "globex", "initech"];

describe("Lago sink against the sandbox (official client, real HTTP)", () => {
  let sb: Sandbox;
  let sink: BillingSink;
  const batchRequests = () => sb.state.requests({ destination: "lago", method: "POST", path: "/events/batch" });

  beforeEach(async () => {
    sb = await startSandbox({ seed: demoSeed(CUSTOMERS, [METRIC]) });
    sink = createLagoSink({ apiUrl: sb.lagoApiUrl, apiKey: sb.lagoApiKey });
  });
  afterEach(() => sb.stop());

  it("delivers 250 events in 3 batch requests, with exact totals; a re-send is all duplicate and changes nothing", async () => {
    const events = Array.from({ length: 250 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    expect(sink.limits.maxBatchSize).toBe(100);
    const first = await sink.send(events);
    expect(first).toHaveLength(250);
    expect(tally(first)).toEqual({ delivered: 250 });
    expect(batchRequests().map((r) => r.events)).toEqual([100, 100, 50]);
    expect(sortTotals(sb.state.lagoTotals())).toEqual(expectedTotals(events));
    const stored = sb.state.lagoEvents()[0]!;
    expect(stored).toMatchObject({ external_subscription_id: "sub_acme", code: "llm_tokens", timestamp: events[0]!.timestamp, properties: { value: 100, model: "gpt-4o", type: "input" } });

    const again = await sink.send(events);
    expect(tally(again)).toEqual({ duplicate: 250 });
    expect(sb.state.lagoEvents()).toHaveLength(250);
    expect(sortTotals(sb.state.lagoTotals())).toEqual(expectedTotals(events));
  });

  it("delivers the 99 good events of a batch and rejects the bad one with Lago's reason", async () => {
    const events = Array.from({ length: 100 }, (_, i) => billable(i));
    events[42] = billable(42, { timestamp: "last tuesday" });
    const outcomes = await sink.send(events);
    expect(tally(outcomes)).toEqual({ delivered: 99, rejected: 1 });
    expect(outcomes[42]).toEqual({ status: "rejected", reason: "Lago refused the event (422): timestamp invalid_format" });
    expect(sb.state.lagoEvents()).toHaveLength(99);
    expect(batchRequests()).toHaveLength(2);
  });

  it("settles invalid, duplicate and new events of one batch in bounded rounds", async () => {
    await sink.send([billable(1), billable(2)]);
    const mixed = [billable(0), billable(1), billable(3, { timestamp: "nope" }), billable(2), billable(4)];
    const outcomes = await sink.send(mixed);
    expect(outcomes.map((o) => o.status)).toEqual(["delivered", "duplicate", "rejected", "duplicate", "delivered"]);
    // first batch, then: shape error, duplicates, success.
    expect(batchRequests()).toHaveLength(4);
    expect(sb.state.lagoEvents().map((e) => e.transaction_id).sort()).toEqual([0, 1, 2, 4].map((i) => billable(i).id));
  });

  it("resolves each customer's active subscription once, and rejects a customer that has none", async () => {
    const outcomes = await sink.send([billable(0), billable(1, { customer: "stranger" }), billable(2, { customer: "globex" }), billable(3, { customer: "nobody", subscription: "sub_explicit" })]);
    expect(outcomes.map((o) => o.status)).toEqual(["delivered", "rejected", "delivered", "delivered"]);
    expect(outcomes[1]).toEqual({ status: "rejected", reason: 'customer "stranger" has no active Lago subscription; create one, or name the subscription in the mapping' });
    expect(sb.state.lagoEvents().map((e) => e.external_subscription_id)).toEqual(["sub_acme", "sub_globex", "sub_explicit"]);
    await sink.send([billable(10), billable(11, { customer: "globex" })]);
    expect(sb.state.requests({ destination: "lago", path: "/subscriptions" })).toHaveLength(3);
  });

  it("rejects a customer with several active subscriptions, naming them", async () => {
    const two = await startSandbox({
      seed: { lago: { customers: [{ external_id: "acme", subscriptions: [{ external_id: "s1", plan_code: "p" }, { external_id: "s2", plan_code: "p" }] }] } },
    });
    try {
      const [o] = await createLagoSink({ apiUrl: two.lagoApiUrl, apiKey: two.lagoApiKey }).send([billable(0)]);
      expect(o).toEqual({ status: "rejected", reason: 'customer "acme" has 2 active Lago subscriptions (s1, s2); name the subscription in the mapping' });
    } finally {
      await two.stop();
    }
  });

  it("answers retry with Lago's X-RateLimit-Reset on 429", async () => {
    sb.setFaults({ lago: { status429: 1, retryAfterSeconds: 3 } });
    const outcomes = await sink.send([billable(0), billable(1)]);
    // Lago's budget is the organization's: the whole destination waits.
    expect(outcomes).toEqual([
      { status: "retry", reason: "Lago 429 Too Many Requests: rate limited", afterMs: 3000, scope: "destination" },
      { status: "retry", reason: "Lago 429 Too Many Requests: rate limited", afterMs: 3000, scope: "destination" },
    ]);
    expect(sb.state.lagoEvents()).toEqual([]);
  });

  it.each([
    ["status5xx", /^Lago 503 Service Unavailable/, "destination"],
    ["html502", /^Lago 502 Bad Gateway: non-JSON body/, "destination"],
    ["reset", /^network error talking to Lago: fetch failed/, "event"],
  ] as const)("answers retry on %s, and the retry then delivers", async (fault, reason, scope) => {
    sb.setFaults({ lago: { [fault]: 1 } });
    const events = [billable(0), billable(1)];
    const outcomes = await sink.send(events);
    expect(outcomes.map((o) => o.status)).toEqual(["retry", "retry"]);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringMatching(reason), scope });
    sb.setFaults({});
    expect(tally(await sink.send(events))).toEqual({ delivered: 2 });
  });

  it("treats a commit followed by a 500 as retry, and the retry as duplicate: 100 events stored once", async () => {
    sb.setFaults({ lago: { acceptThen500: 1, limit: 1 } });
    const events = Array.from({ length: 100 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    const outcomes = await sink.send(events);
    expect(tally(outcomes)).toEqual({ retry: 100 });
    expect(outcomes[0]).toMatchObject({ status: "retry", scope: "event", reason: expect.stringContaining("may already be committed") });
    const again = await sink.send(events);
    expect(tally(again)).toEqual({ duplicate: 100 });
    expect(sb.state.counts().lago).toMatchObject({ events: 100, duplicatesRefused: 100 });
    expect(sortTotals(sb.state.lagoTotals())).toEqual(expectedTotals(events));
  });

  it("a re-send mixing committed and new events: the committed ones are duplicates, the new ones delivered, each stored once", async () => {
    // The first of three requests commits and answers 500; the other two succeed.
    sb.setFaults({ lago: { acceptThen500: 1, limit: 1 } });
    const events = Array.from({ length: 250 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    const first = await sink.send(events);
    expect(tally(first)).toEqual({ retry: 100, delivered: 150 });
    // The worker re-sends the leftovers together with new events of a later batch.
    const later = Array.from({ length: 20 }, (_, i) => billable(1000 + i));
    const second = await sink.send([...events.slice(0, 100), ...later]);
    expect(tally(second)).toEqual({ duplicate: 100, delivered: 20 });
    expect(sb.state.lagoEvents()).toHaveLength(270);
    expect(new Set(sb.state.lagoEvents().map((e) => e.transaction_id)).size).toBe(270);
  });

  it("a reset after Lago committed the batch: retry, then duplicate", async () => {
    sb.setFaults({ lago: { acceptThenReset: 1, limit: 1 } });
    const events = [billable(0), billable(1), billable(2)];
    expect(tally(await sink.send(events))).toEqual({ retry: 3 });
    expect(tally(await sink.send(events))).toEqual({ duplicate: 3 });
    expect(sb.state.lagoEvents()).toHaveLength(3);
  });

  it.each([
    ["faults on ingestion only", { seed: 21, lago: { status5xx: 0.2, status429: 0.1, acceptThen500: 0.05, reset: 0.05, slowMs: 5, retryAfterSeconds: 0 } }],
    [
      "faults on every request, and resets after a commit",
      { seed: 22, lago: { status5xx: 0.15, html502: 0.05, status429: 0.1, acceptThen500: 0.05, reset: 0.05, acceptThenReset: 0.05, slowMs: 5, retryAfterSeconds: 0, scope: "all" as const } },
    ],
  ])("storm over 2,000 events (%s): each stored once, exact totals, committed re-sends counted as delivered", async (_name, faults) => {
    sb.setFaults(faults);
    const events = Array.from({ length: 2000 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    const r = await sendUntilSettled(sink, events);
    expect(r.pending).toEqual([]);
    expect([...r.final.values()].every((o) => o.status === "delivered" || o.status === "duplicate")).toBe(true);
    const counts = sb.state.counts().lago;
    expect(counts.events).toBe(2000);
    expect(new Set(sb.state.lagoEvents().map((e) => e.transaction_id)).size).toBe(2000);
    expect(sortTotals(sb.state.lagoTotals())).toEqual(expectedTotals(events));
    // Batches committed behind a 500 came back as value_already_exist.
    expect(counts.faults.acceptThen500 ?? 0).toBeGreaterThan(0);
    expect(counts.duplicatesRefused).toBeGreaterThan(0);
    expect([...r.final.values()].some((o) => o.status === "duplicate")).toBe(true);
  }, 60_000);

  it("answers retry when Lago does not answer in time", async () => {
    sb.setFaults({ lago: { slowMs: 3000 } });
    const slow = createLagoSink({ apiUrl: sb.lagoApiUrl, apiKey: sb.lagoApiKey, timeoutMs: 100 });
    const [o] = await slow.send([billable(0, { subscription: "sub_acme" })]);
    expect(o).toEqual({ status: "retry", reason: "Lago did not answer in time (the request may still have been committed)", scope: "event" });
  });

  it("sends nothing for an empty batch, and rejects a quantity that is not a finite number", async () => {
    expect(await sink.send([])).toEqual([]);
    expect(await sink.send([billable(0, { value: Number.NaN }), billable(1)])).toEqual([{ status: "rejected", reason: "value is not a finite number (NaN)" }, { status: "delivered" }]);
    expect(sb.state.lagoEvents()).toHaveLength(1);
  });

  it("splits batches when a self-hosted Lago has a lower batch limit", async () => {
    const small = await startSandbox({ seed: demoSeed(["acme"], [METRIC]), lagoBatchMax: 30 });
    try {
      const s = createLagoSink({ apiUrl: small.lagoApiUrl, apiKey: small.lagoApiKey });
      const events = Array.from({ length: 100 }, (_, i) => billable(i));
      expect(tally(await s.send(events))).toEqual({ delivered: 100 });
      expect(small.state.lagoEvents()).toHaveLength(100);
      expect(small.state.requests({ path: "/events/batch" }).map((r) => r.status)).toEqual([422, 422, 200, 200, 422, 200, 200]);
    } finally {
      await small.stop();
    }
  });

  it.each(["", "/", "/api/v1", "/api/v1/"])("works with LAGO_API_URL = <sandbox>/lago%s", async (suffix) => {
    const s = createLagoSink({ apiUrl: `${sb.lagoApiUrl}${suffix}`, apiKey: sb.lagoApiKey });
    expect(await s.send([billable(0)])).toEqual([{ status: "delivered" }]);
    expect((await s.healthcheck(["llm_tokens"], ["acme"])).ok).toBe(true);
  });

  it("healthcheck asks again for a metric found within the last 10 minutes only after they pass; a missing one every time", async () => {
    let clock = 1_000_000;
    const s = createLagoSink({ apiUrl: sb.lagoApiUrl, apiKey: sb.lagoApiKey, now: () => clock });
    const asked = (code: string) => sb.state.requests({ path: `/billable_metrics/${code}` }).length;
    const [found0, missing0] = [asked("llm_tokens"), asked("nope_metric")];
    for (let i = 0; i < 3; i++) {
      const r = await s.healthcheck(["llm_tokens", "nope_metric"], []);
      expect(r.blocking).toHaveLength(1);
      clock += 60_000;
    }
    expect(asked("llm_tokens") - found0).toBe(1);
    expect(asked("nope_metric") - missing0).toBe(3);
    clock += 600_000;
    expect((await s.healthcheck(["llm_tokens"], [])).ok).toBe(true);
    expect(asked("llm_tokens") - found0).toBe(2);
  });

  it("normalizes the documented API roots to the client's base URL", () => {
    expect(lagoSdkBaseUrl("https://api.getlago.com")).toBe("https://api.getlago.com/api/v1");
    expect(lagoSdkBaseUrl("https://api.eu.getlago.com/api/v1/")).toBe("https://api.eu.getlago.com/api/v1");
    expect(lagoSdkBaseUrl("http://h:3000/lago//")).toBe("http://h:3000/lago/api/v1");
  });

  it("healthcheck blocks unknown metric codes (Lago would accept and never bill) and warns about customers without a subscription", async () => {
    const report = await sink.healthcheck(["llm_tokens", "llm_tokens_typo", "odd/code"], ["acme", "stranger"]);
    const unknown = (code: string) => `Lago has no billable metric "${code}"; Lago accepts events with an unknown code and never bills them`;
    const stranger = 'customer "stranger" has no active Lago subscription; create one, or name the subscription in the mapping';
    expect(report).toEqual({
      ok: false,
      problems: [unknown("llm_tokens_typo"), unknown("odd/code"), stranger],
      blocking: [unknown("llm_tokens_typo"), unknown("odd/code")],
      warnings: [stranger],
      issues: [
        { kind: "unknown_metric", severity: "blocking", metric: "llm_tokens_typo", message: unknown("llm_tokens_typo") },
        { kind: "unknown_metric", severity: "blocking", metric: "odd/code", message: unknown("odd/code") },
        { kind: "no_subscription", severity: "warning", customer: "stranger", message: stranger },
      ],
    });
    expect(sb.state.requests({ path: "/billable_metrics/odd%2Fcode" })).toHaveLength(1);
    expect(await sink.healthcheck(["llm_tokens"], ["acme"])).toEqual({ ok: true, problems: [], blocking: [], warnings: [], issues: [] });
  });

  it("healthcheck names a customer with several active subscriptions as ambiguous", async () => {
    const two = await startSandbox({
      seed: { lago: { customers: [{ external_id: "acme", subscriptions: [{ external_id: "s1", plan_code: "p" }, { external_id: "s2", plan_code: "p" }] }], billable_metrics: [{ code: "llm_tokens", aggregation_type: "sum_agg", field_name: "value" }] } },
    });
    try {
      const report = await createLagoSink({ apiUrl: two.lagoApiUrl, apiKey: two.lagoApiKey }).healthcheck(["llm_tokens"], ["acme"]);
      expect(report.blocking).toEqual([]);
      expect(report.issues).toEqual([{ kind: "ambiguous_subscription", severity: "warning", customer: "acme", message: expect.stringContaining("2 active Lago subscriptions") }]);
    } finally {
      await two.stop();
    }
  });

  it("healthcheck blocks a metric it could not check (Lago failing), and only warns about the customers", async () => {
    sb.setFaults({ lago: { status5xx: 1, scope: "all" } });
    const report = await sink.healthcheck(["llm_tokens"], ["acme"]);
    expect(report.issues).toEqual([
      { kind: "unchecked", severity: "blocking", metric: "llm_tokens", message: 'could not check Lago billable metric "llm_tokens": Lago 503 Service Unavailable: Service Unavailable' },
      { kind: "unchecked", severity: "warning", customer: "acme", message: 'looking up the subscription of "acme": Lago 503 Service Unavailable: Service Unavailable' },
    ]);
  });

  it("reads totals back per customer × metric × model, from inclusive, to exclusive", async () => {
    const events = Array.from({ length: 150 }, (_, i) => billable(i, { customer: CUSTOMERS[i % 3]! }));
    const atFrom = billable(500, { timestamp: WINDOW.from.toISOString() });
    const atTo = billable(501, { timestamp: WINDOW.to.toISOString() });
    const otherMetric = billable(502, { metric: "other" });
    await sink.send([...events, atFrom, atTo, otherMetric]);
    const totals = await sink.readTotals({ ...WINDOW, customers: CUSTOMERS, metrics: [METRIC] });
    expect(sortTotals(totals)).toEqual(expectedTotals([...events, atFrom]));
  });
});
