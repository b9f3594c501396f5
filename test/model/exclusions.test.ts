import { describe, expect, it } from "vitest";
import { addQuarantine, addRecord, emptyExclusions, exclusionTotals, mergeExclusions, type BillableEvent } from "../../src/model/index.js";
import { traceRecord, usage } from "../mapping/factory.js";

function ev(customer: string, value: number, metric = "llm_tokens"): BillableEvent {
  return { id: `${customer}-${value}`, customer, metric, value, timestamp: "2025-03-01T10:00:02.500Z", properties: {}, source: { platform: "langsmith", record_id: "r", trace_id: "t" }, mapping: "m" };
}

describe("exclusions tally", () => {
  it("counts prompt-cache reads of billed calls per paying customer, pro-rata for a split call", () => {
    const x = emptyExclusions("test");
    addRecord(x, traceRecord({ usage: usage({ input: 1000, cacheRead: 300 }) }), [ev("acme", 700), ev("acme", 200)], []);
    // A call split 3:1 between globex and initech: its 100 cached tokens follow the shares.
    addRecord(x, traceRecord({ recordId: "split", usage: usage({ input: 400, cacheRead: 100 }) }), [ev("globex", 300), ev("initech", 100), ev("globex", 9, "llm_requests")], []);
    expect(x.records).toBe(2);
    expect(x.billed).toBe(2);
    expect(x.customers.map((c) => [c.customer, c.promptCacheReadTokens])).toEqual([["acme", 300], ["globex", 75], ["initech", 25]]);
    expect(exclusionTotals(x).promptCacheReadTokens).toBe(400);
  });

  it("counts cache hits, failed calls (with their errors) and unattributed calls of records that did not bill", () => {
    const x = emptyExclusions("test");
    addRecord(x, traceRecord({ recordId: "hit", cacheHit: true, usage: usage({ input: 120, output: 30 }) }), [], [{ reason: "cache hit" }], () => "globex");
    addRecord(x, traceRecord({ recordId: "replay", replaySignal: "cost 0", usage: usage({ input: 10, output: 5 }) }), [], [{ reason: "replay" }], () => "globex");
    addRecord(x, traceRecord({ recordId: "f1", status: "error", error: "RateLimitError: 429\nTraceback…", usage: null }), [], [{ reason: "failed" }], () => "acme");
    addRecord(x, traceRecord({ recordId: "f2", status: "error", error: "RateLimitError: 429", usage: usage({ input: 50, output: 0 }) }), [], [{ reason: "failed" }], () => "acme");
    addRecord(x, traceRecord({ recordId: "f3", status: "error", error: null, usage: null }), [], [{ reason: "failed" }]);
    addRecord(x, traceRecord({ recordId: "anon", attributes: {}, usage: usage({ input: 60, output: 10 }) }), [], [{ reason: "no customer", code: "no-customer" }]);
    // A chain run that did not bill is not a call: only its skip reason counts.
    addRecord(x, traceRecord({ recordId: "chain", isModelCall: false, status: "error" }), [], [{ reason: "model calls only" }]);
    expect(x.records).toBe(7);
    expect(x.billed).toBe(0);
    const by = Object.fromEntries(x.customers.map((c) => [c.customer, c]));
    expect(by.globex).toMatchObject({ cacheHits: 2, cacheHitTokens: 165, failed: 0 });
    expect(by.acme).toMatchObject({ failed: 2, failedTokens: 50, cacheHits: 0 });
    expect(by[""]).toMatchObject({ failed: 1, failedTokens: 0 });
    expect(x.failedReasons).toEqual([{ reason: "RateLimitError: 429", calls: 2 }, { reason: "(no error message)", calls: 1 }]);
    expect(x.unattributed).toEqual({ calls: 1, tokens: 70, samples: ["anon"] });
    expect(x.skipped).toEqual({ "cache hit": 1, replay: 1, failed: 3, "no customer": 1, "model calls only": 1 });
  });

  it("merges tallies (sync by sync) into the same figures as one tally", () => {
    const one = emptyExclusions("all");
    const a = emptyExclusions("a");
    const b = emptyExclusions("b");
    const records = [
      () => [traceRecord({ usage: usage({ cacheRead: 40 }) }), [ev("acme", 5)], [], undefined] as const,
      () => [traceRecord({ status: "error", error: "boom", usage: null }), [], [{ reason: "failed" }], "acme"] as const,
      () => [traceRecord({ cacheHit: true }), [], [{ reason: "hit" }], "globex"] as const,
    ];
    records.forEach((make, i) => {
      const [r, e, s, p] = make();
      addRecord(one, r, e, s, () => p);
      addRecord(i === 0 ? a : b, r, e, s, () => p);
    });
    addQuarantine(one, { input: "f", position: "line 3", reason: "invalid JSON" });
    addQuarantine(b, { input: "f", position: "line 3", reason: "invalid JSON" });
    const merged = mergeExclusions(a, b);
    expect({ ...merged, basis: "all" }).toEqual(one);
    expect(merged.quarantined).toEqual({ count: 1, byReason: { "invalid JSON": 1 }, samples: [{ input: "f", position: "line 3", reason: "invalid JSON" }] });
  });
});
