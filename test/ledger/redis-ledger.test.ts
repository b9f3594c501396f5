import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLedger, daysBetween } from "../../src/ledger/redis-ledger.js";
import type { BillableEvent } from "../../src/model/index.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";

function ev(id: string, customer: string, value: number, timestamp: string, model = "gpt-4o"): BillableEvent {
  return {
    id, customer, metric: "llm_tokens", value, timestamp,
    properties: { model, type: "input" },
    source: { platform: "langsmith", record_id: id, trace_id: "t" },
    mapping: "llm-tokens",
  };
}

describe("RedisLedger", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await redis.quit();
  });

  it("records each key once, so replays and racing workers never double the aggregates", async () => {
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    const a = ev("k1", "acme", 100, "2026-11-20T10:00:00.000Z");
    const b = ev("k2", "acme", 50, "2026-11-20T11:00:00.000Z");
    const c = ev("k3", "globex", 7, "2026-11-21T09:00:00.000Z", "claude");
    const results = await Promise.all([
      ledger.recordDelivered("lago", [a, b]),
      ledger.recordDelivered("lago", [a, b, c]),
      ledger.recordDelivered("lago", [c]),
    ]);
    expect(results.reduce((s, n) => s + n, 0)).toBe(3);
    const totals = await ledger.totals("lago", new Date("2026-11-20T00:00:00Z"), new Date("2026-11-22T00:00:00Z"));
    const byCustomer = Object.fromEntries(totals.map((t) => [`${t.customer}/${t.model}`, [t.value, t.events]]));
    expect(byCustomer).toEqual({ "acme/gpt-4o": [150, 2], "globex/claude": [7, 1] });
    expect(await ledger.filterUndelivered("lago", ["k1", "k9", "k3", "k8"])).toEqual(["k9", "k8"]);
    // Destinations are independent.
    expect(await ledger.filterUndelivered("openmeter", ["k1"])).toEqual(["k1"]);
  });

  it("limits totals to the requested days", async () => {
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    await ledger.recordDelivered("openmeter", [ev("a", "acme", 1, "2026-11-20T23:59:59.000Z"), ev("b", "acme", 2, "2026-11-21T00:00:00.000Z")]);
    const t = await ledger.totals("openmeter", new Date("2026-11-21T00:00:00Z"), new Date("2026-11-22T00:00:00Z"));
    expect(t).toEqual([{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 2, events: 1 }]);
  });

  it("keeps one dead letter per event id with its reason", async () => {
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    const e = ev("bad", "acme", 1, "2026-11-20T00:00:00.000Z");
    await ledger.deadLetter("lago", [{ event: e, reason: "timestamp: invalid_format", at: "x" }]);
    await ledger.deadLetter("lago", [{ event: e, reason: "timestamp: invalid_format", at: "y" }]);
    const dl = await ledger.deadLetters("lago");
    expect(dl).toHaveLength(1);
    expect(dl[0]?.reason).toBe("timestamp: invalid_format");
  });

  it("expires delivered keys after the replay horizon", async () => {
    const prefix = uniquePrefix("ledger");
    const ledger = new RedisLedger(redis, { prefix, ttlSeconds: 1234 });
    await ledger.recordDelivered("lago", [ev("ttl1", "acme", 1, "2026-11-20T00:00:00.000Z")]);
    const ttl = await redis.ttl(`${prefix}:ledger:{lago}:k:ttl1`);
    expect(ttl).toBeGreaterThan(1200);
    expect(ttl).toBeLessThanOrEqual(1234);
  });

  it("lists the UTC days of a window", () => {
    expect(daysBetween(new Date("2026-11-30T12:00:00Z"), new Date("2026-12-02T00:00:01Z"))).toEqual(["2026-11-30", "2026-12-01", "2026-12-02"]);
    expect(daysBetween(new Date("2026-11-30T00:00:00Z"), new Date("2026-12-01T00:00:00Z"))).toEqual(["2026-11-30"]);
  });
});
