import { describe, expect, it } from "vitest";
import { allocate, largestRemainder, windowOf, windowStart, type AllocationResult } from "../../src/attribution/index.js";
import { toUnits } from "../../src/attribution/allocate.js";
import { idempotencyKey } from "../../src/model/index.js";
import { act, config, shuffled, un } from "./helpers.js";

/** tenant → value per "window model type", for exact comparisons. */
function shares(r: AllocationResult): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const e of r.events) (out[`${e.timestamp.slice(0, 10)} ${e.properties.model} ${e.properties.type}`] ??= {})[e.customer] = e.value;
  return out;
}

/** Sum per (window, metric, model, type) of the events, in exact units. */
function sums(r: AllocationResult): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const e of r.events) {
    const k = [e.timestamp, e.metric, e.properties.model, e.properties.type].join(" ");
    m.set(k, (m.get(k) ?? 0n) + toUnits(e.value));
  }
  return m;
}

const day1 = "2025-03-01";
const day2 = "2025-03-02";
const day3 = "2025-03-03";
const activity = [act(day1, "acme", "gpt-4o", 300), act(day1, "globex", "gpt-4o-mini", 100), act(day2, "initech", "gpt-4o", 50)];
const unattributed = [
  un(day1, "gpt-4o", "input", 1001),
  un(day1, "gpt-4o", "output", 10),
  un(day1, "gpt-4o-mini", "input", 7),
  un(day2, "gpt-4o", "input", 999),
];

describe("allocate", () => {
  it("splits 1001 over 3 equally active tenants as 334 / 334 / 333 (ties to the smaller tenant id)", () => {
    const r = allocate([act(day1, "c", "gpt-4o", 100), act(day1, "b", "gpt-4o", 100), act(day1, "a", "gpt-4o", 100)], [un(day1, "gpt-4o", "input", 1001)], config({ model: "activity" }));
    expect(r.events.map((e) => [e.customer, e.value])).toEqual([["a", 334], ["b", 334], ["c", 333]]);
    expect(r.unallocated).toEqual([]);
  });

  it("activity: shares follow usage, per window, and add up exactly per (window, metric, model, type)", () => {
    const r = allocate(activity, unattributed, config({ model: "activity" }));
    // Day 1 activity 300 : 100 → 3/4 : 1/4 of each total.
    expect(shares(r)).toEqual({
      "2025-03-01 gpt-4o input": { acme: 751, globex: 250 }, // 750.75 / 250.25 → +1 to the larger remainder
      "2025-03-01 gpt-4o output": { acme: 8, globex: 2 }, // 7.5 / 2.5: equal remainders, tie to acme
      "2025-03-01 gpt-4o-mini input": { acme: 5, globex: 2 }, // 5.25 / 1.75 → +1 to globex
      "2025-03-02 gpt-4o input": { initech: 999 },
    });
    expect([...sums(r).values()]).toEqual([1001n, 10n, 7n, 999n].map((n) => n * 10n ** 9n));
  });

  it("weighted: per-model weights change the shares as specified", () => {
    const r = allocate(activity, unattributed, config({ model: "weighted" }));
    // acme 300 × 2 = 600, globex 100 × 0.5 = 50 → 12/13 : 1/13.
    expect(shares(r)).toEqual({
      "2025-03-01 gpt-4o input": { acme: 924, globex: 77 }, // exact: 1001 × 12/13 = 924
      "2025-03-01 gpt-4o output": { acme: 9, globex: 1 }, // 9.23 / 0.77 → +1 to globex
      "2025-03-01 gpt-4o-mini input": { acme: 6, globex: 1 }, // 6.46 / 0.54 → +1 to globex
      "2025-03-02 gpt-4o input": { initech: 999 },
    });
    expect(r.events.every((e) => e.properties.allocation === "weighted" && e.properties.allocated === true)).toBe(true);
  });

  it("an unlisted model weighs default_weight; weight 0 takes a model out of the activity", () => {
    const a = [act(day1, "acme", "claude-3-5-sonnet", 100), act(day1, "globex", "gpt-4o", 100), act(day1, "hooli", "embed", 1000)];
    const r = allocate(a, [un(day1, "gpt-4o", "input", 100)], config({ weights: { "gpt-4o": 3, embed: 0 }, defaultWeight: 1 }));
    expect(r.events.map((e) => [e.customer, e.value])).toEqual([["acme", 25], ["globex", 75]]);
  });

  it("keeps a window's total unallocated, with the reason, when no tenant was active in it", () => {
    const r = allocate(activity, [...unattributed, un(day3, "gpt-4o", "input", 77)], config());
    expect(r.events.some((e) => e.timestamp.startsWith(day3))).toBe(false);
    expect(r.unallocated).toEqual([{ window: day3, metric: "llm_tokens", model: "gpt-4o", type: "input", quantity: 77, records: 1, reason: "no tenant activity in the window" }]);
  });

  it("keeps it unallocated when every active model weighs 0", () => {
    const r = allocate([act(day1, "acme", "embed", 10)], [un(day1, "gpt-4o", "input", 5)], config({ weights: { embed: 0 } }));
    expect(r.events).toEqual([]);
    expect(r.unallocated[0]!.reason).toMatch(/weighs 0/);
  });

  it("only allocates to eligible tenants: exclude, list, and never to shared pseudo-tenants", () => {
    const a = [act(day1, "acme", "gpt-4o", 100), act(day1, "globex", "gpt-4o", 100), act(day1, "internal", "gpt-4o", 100), act(day1, "free-tier", "gpt-4o", 100)];
    const base = config({ model: "activity", unattributed: { skipCodes: ["no-customer"], requireTraceContext: true, customers: ["internal"] } });
    const r = allocate(a, [un(day1, "gpt-4o", "input", 11)], { ...base, tenants: { from: "active", list: [], exclude: ["free-tier"] } });
    expect(r.events.map((e) => [e.customer, e.value])).toEqual([["acme", 6], ["globex", 5]]);
    const listed = allocate(a, [un(day1, "gpt-4o", "input", 11)], { ...base, tenants: { from: "list", list: ["globex", "nobody"], exclude: [] } });
    expect(listed.events.map((e) => [e.customer, e.value])).toEqual([["globex", 11]]);
  });

  it("activity by calls: each call counts once, whatever its size", () => {
    const a = [act(day1, "acme", "gpt-4o", 1000, 1), act(day1, "globex", "gpt-4o", 30, 3)];
    const r = allocate(a, [un(day1, "gpt-4o", "input", 100)], config({ model: "activity", activity: "calls" }));
    expect(r.events.map((e) => [e.customer, e.value])).toEqual([["acme", 25], ["globex", 75]]);
  });

  it("splits a decimal total in its own smallest decimal unit, exactly", () => {
    const r = allocate([act(day1, "a", "m", 1, 1, "llm_cost"), act(day1, "b", "m", 1, 1, "llm_cost")], [un(day1, "m", "cost", 10.5, "llm_cost"), un(day1, "m", "cost2", 0.000000003, "llm_cost")], config({ model: "activity", metrics: ["llm_cost"] }));
    expect(r.events.map((e) => [e.customer, e.properties.type, e.value])).toEqual([
      ["a", "cost", 5.3], ["b", "cost", 5.2],
      ["a", "cost2", 0.000000002], ["b", "cost2", 0.000000001],
    ]);
  });

  it("stays exact beyond 2^53 intermediate products", () => {
    const total = Number.MAX_SAFE_INTEGER; // 9007199254740991
    const r = allocate([act(day1, "a", "m", 7e12), act(day1, "b", "m", 7e12), act(day1, "c", "m", 7e12)], [un(day1, "m", "input", total)], config({ model: "activity" }));
    expect(r.events.map((e) => e.value)).toEqual([3002399751580331, 3002399751580330, 3002399751580330]);
    expect(r.events.reduce((s, e) => s + BigInt(e.value), 0n)).toBe(BigInt(total));
  });

  it("is deterministic: the same events and ids in any input order", () => {
    const expected = allocate(activity, unattributed, config());
    for (const seed of [1, 2, 3, 42, 1001]) {
      // Splitting an entry in two must not matter either: entries with the same key add up.
      const split = activity.flatMap((a) => [{ ...a, quantity: a.quantity - 1 }, { ...a, quantity: 1, calls: 0 }]);
      const again = allocate(shuffled(split, seed), shuffled(unattributed, seed + 7), config());
      expect(again).toEqual(expected);
    }
  });

  it("gives each allocation event a documented id, timestamp and properties", () => {
    const r = allocate(activity, unattributed, config());
    const e = r.events.find((x) => x.customer === "acme" && x.properties.type === "input" && x.properties.model === "gpt-4o")!;
    expect(e).toEqual({
      id: idempotencyKey({ platform: "allocation", recordId: "acme", mapping: "attribution", metric: "llm_tokens", discriminator: "alloc:2025-03-01:llm_tokens:gpt-4o:input", split: 0 }),
      customer: "acme",
      metric: "llm_tokens",
      value: 924,
      timestamp: "2025-03-01T00:00:00.000Z",
      properties: { model: "gpt-4o", type: "input", allocated: true, allocation: "weighted" },
      source: { platform: "langsmith", record_id: "alloc:2025-03-01:llm_tokens:gpt-4o:input:acme", trace_id: "" },
      mapping: "attribution",
      valueProperty: "value",
    });
    expect(new Set(r.events.map((x) => x.id)).size).toBe(r.events.length);
    // A scope (one run per part of a window) gives other ids for the same shares.
    const scoped = allocate(activity, unattributed, config(), { scope: "pull:2025-03-01T00" });
    expect(scoped.events.map((x) => x.value)).toEqual(r.events.map((x) => x.value));
    expect(scoped.events.filter((x, i) => x.id === r.events[i]!.id)).toEqual([]);
  });

  it("hour windows: separate shares per UTC hour", () => {
    const h10 = "2025-03-01T10:00Z";
    const h11 = "2025-03-01T11:00Z";
    const r = allocate([act(h10, "a", "m", 1), act(h11, "b", "m", 1)], [un(h10, "m", "input", 5), un(h11, "m", "input", 6)], config({ model: "activity", window: "hour" }));
    expect(r.events.map((e) => [e.timestamp, e.customer, e.value])).toEqual([["2025-03-01T10:00:00.000Z", "a", 5], ["2025-03-01T11:00:00.000Z", "b", 6]]);
  });

  it("refuses direct attribution without an override (nothing to allocate)", () => {
    expect(() => allocate(activity, unattributed, config({ model: "direct" }))).toThrow(/allocation model/);
    expect(allocate(activity, unattributed, config({ model: "direct" }), { model: "activity" }).events.length).toBe(7);
  });
});

describe("windows", () => {
  it("labels usage times by UTC day or hour", () => {
    expect(windowOf("2025-03-01T23:59:59.999Z", "day")).toBe("2025-03-01");
    expect(windowOf("2025-03-01T23:30:00-02:00", "day")).toBe("2025-03-02");
    expect(windowOf("2025-03-01T10:59:59.999Z", "hour")).toBe("2025-03-01T10:00Z");
    expect(windowStart("2025-03-01")).toBe("2025-03-01T00:00:00.000Z");
    expect(windowStart("2025-03-01T10:00Z")).toBe("2025-03-01T10:00:00.000Z");
  });
});

describe("largestRemainder", () => {
  it("always sums to n, never gives to a zero weight, and breaks ties by id", () => {
    for (let seed = 1; seed <= 200; seed++) {
      let s = seed;
      const rnd = (k: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % k);
      const weights = Array.from({ length: 1 + rnd(6) }, (_, i) => [`t${i}`, BigInt(rnd(4) === 0 ? 0 : 1 + rnd(1000))] as const);
      if (weights.every(([, w]) => w === 0n)) continue;
      const n = BigInt(rnd(100_000));
      const parts = largestRemainder(n, weights);
      expect(parts.reduce((a, [, v]) => a + v, 0n)).toBe(n);
      parts.forEach(([, v], i) => {
        if (weights[i]![1] === 0n) expect(v).toBe(0n);
      });
    }
    expect(largestRemainder(2n, [["b", 1n], ["a", 1n], ["c", 1n]])).toEqual([["b", 1n], ["a", 1n], ["c", 0n]]);
  });
});
