import { describe, expect, it } from "vitest";
import { fingerprint } from "../../src/ledger/fingerprint.js";
import { dayOf } from "../../src/ledger/ledger.js";
import { RECENT_MINUTES, RedisLedger, daysBetween } from "../../src/ledger/redis-ledger.js";
import type { BillableEvent } from "../../src/model/index.js";
import { testRedis, uniquePrefix } from "../support/redis.js";

function ev(id: string, customer: string, value: number, timestamp: string, model = "gpt-4o"): BillableEvent {
  return {
    id, customer, metric: "llm_tokens", value, timestamp,
    properties: { model, type: "input" },
    source: { platform: "langsmith", record_id: id, trace_id: "t" },
    mapping: "llm-tokens",
  };
}

describe("RedisLedger", () => {
  const redis = testRedis();

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

  it("keeps what was recorded in the last minutes, by recording time and once per event, for `pending`", async () => {
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    // Usage days long ago: recent is about when the ledger recorded them, not usage time.
    const a = ev("r1", "acme", 100, "2026-01-02T10:00:00.000Z");
    const b = ev("r2", "acme", 50, "2026-03-04T11:00:00.000Z");
    expect(await ledger.recentTotals("lago", 15)).toEqual([]);
    await ledger.recordDelivered("lago", [a, b]);
    await ledger.recordDelivered("lago", [a, b]);
    expect(await ledger.recentTotals("lago", 15)).toEqual([{ customer: "acme", metric: "llm_tokens", model: "gpt-4o", value: 150, events: 2 }]);
    // Per destination.
    expect(await ledger.recentTotals("openmeter", 15)).toEqual([]);
    // Kept only as long as the longest lag it answers for.
    const prefix = uniquePrefix("ledger");
    const l2 = new RedisLedger(redis, { prefix, ttlSeconds: 3600 });
    await l2.recordDelivered("lago", [a]);
    const keys = await redis.keys(`*${prefix}*:r:*`);
    expect(keys.length).toBe(1);
    const ttl = await redis.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(RECENT_MINUTES * 60 + 60);
  });

  it("sums a batch's values per row exactly: whole, decimal, zero, negative and very large values, with the same answer event by event", async () => {
    const day = "2026-11-20T10:00:00.000Z";
    const values = [3, 0, 0.1, 0.2, 999_999_999_999, 1_000_000_000_000, 12_345_678_901_234_568, -4, 7, 1e-7];
    const batch = values.map((v, i) => ev(`m${i}`, "acme", v, day));
    const together = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    const oneByOne = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    expect(await together.recordDelivered("lago", [...batch, ...batch])).toBe(values.length);
    for (const e of batch) await oneByOne.recordDelivered("lago", [e]);
    const window: [Date, Date] = [new Date("2026-11-20T00:00:00Z"), new Date("2026-11-21T00:00:00Z")];
    const [t] = await together.totals("lago", ...window);
    expect(await oneByOne.totals("lago", ...window)).toEqual([t]);
    expect(t!.events).toBe(values.length);
    const sum = values.reduce((a, b) => a + b, 0);
    expect(Math.abs(t!.value - sum) / sum).toBeLessThan(1e-15);
    expect(await together.recentTotals("lago", 15)).toEqual(await oneByOne.recentTotals("lago", 15));
    // A row whose whole values sum to zero is still a row.
    const zero = new RedisLedger(redis, { prefix: uniquePrefix("ledger"), ttlSeconds: 3600 });
    await zero.recordDelivered("lago", [ev("z1", "initech", 0, day), ev("z2", "initech", 0, day)]);
    expect(await zero.totals("lago", ...window)).toEqual([{ customer: "initech", metric: "llm_tokens", model: "gpt-4o", value: 0, events: 2 }]);
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

  it("expires delivered keys after the replay horizon, counted from the last write into a bucket", async () => {
    const prefix = uniquePrefix("ledger");
    const ledger = new RedisLedger(redis, { prefix, ttlSeconds: 1234 });
    await ledger.recordDelivered("lago", [ev("ttl1", "acme", 1, "2026-11-20T00:00:00.000Z")]);
    const [epoch] = await ledger.epochs("lago");
    expect(epoch?.depth).toBe(0); // one bucket until the epoch fills
    const bucket = ledger.bucketKey("lago", epoch!.id, 0);
    expect(await redis.sismember(bucket, fingerprint("ttl1").fp)).toBe(1);
    const ttl = await redis.ttl(bucket);
    expect(ttl).toBeGreaterThan(1200);
    expect(ttl).toBeLessThanOrEqual(1234);
    // Everything the lookup needs lives at least as long as the bucket.
    const now = Number((await redis.time())[0]);
    for (const k of [`${prefix}:ledger:{lago}:f:epochs`, `${prefix}:ledger:{lago}:f:cur`]) {
      expect(await redis.ttl(k)).toBeGreaterThanOrEqual(ttl);
      expect(await redis.ttl(k)).toBeLessThanOrEqual(1235);
    }
    expect(epoch!.until).toBeGreaterThanOrEqual(now + ttl);
    expect(epoch!.until).toBeLessThanOrEqual(now + 1235);
    expect(await redis.ttl(`${prefix}:ledger:{lago}:agg:2026-11-20`)).toBeGreaterThan(1200);

    // A later write into the same bucket renews it: the bucket outlives its last write by the horizon.
    await redis.expire(bucket, 100);
    await ledger.recordDelivered("lago", [ev("ttl2", "acme", 1, "2026-11-20T00:00:00.000Z")]);
    expect(await redis.ttl(bucket)).toBeGreaterThan(1200);
    // A replay (nothing new) writes nothing, so it does not extend the horizon.
    await redis.expire(bucket, 100);
    expect(await ledger.recordDelivered("lago", [ev("ttl1", "acme", 1, "2026-11-20T00:00:00.000Z")])).toBe(0);
    expect(await redis.ttl(bucket)).toBeLessThanOrEqual(100);

    // Once the bucket is gone (expired), its events are forgotten: a replay would deliver again.
    await redis.del(bucket);
    expect(await ledger.filterUndelivered("lago", ["ttl1", "ttl2"])).toEqual(["ttl1", "ttl2"]);
  });

  it("does not probe epochs past their deadline", async () => {
    const prefix = uniquePrefix("ledger");
    const ledger = new RedisLedger(redis, { prefix, ttlSeconds: 3600 });
    await ledger.recordDelivered("lago", [ev("old", "acme", 1, "2026-11-20T00:00:00.000Z")]);
    const [epoch] = await ledger.epochs("lago");
    // As if the epoch's horizon had passed while a bucket lingered (expiry is lazy in Redis).
    await redis.zadd(`${prefix}:ledger:{lago}:f:epochs`, Number((await redis.time())[0]) - 1, `${epoch!.id}:${epoch!.depth}`);
    expect(await ledger.filterUndelivered("lago", ["old"])).toEqual(["old"]);
    // The next recording drops it from the index and starts a new epoch.
    expect(await ledger.recordDelivered("lago", [ev("old", "acme", 1, "2026-11-20T00:00:00.000Z")])).toBe(1);
    expect((await ledger.epochs("lago")).map((e) => e.id)).not.toContain(epoch!.id);
  });

  it("files an event under its UTC day exactly as Date does, including days Date rolls over", () => {
    const viaDate = (iso: string) => new Date(iso).toISOString().slice(0, 10);
    const samples = ["2026-02-30T00:00:00Z", "2026-02-29T10:00:00.000Z", "2024-02-29T23:59:59.999Z", "2026-11-30T24:00:00Z", "2026-04-31T01:00:00Z", "2026-11-01T10:00:00+02:00", "2026-11-01T00:30:00.123456Z", "0001-01-01T00:00:00Z"];
    // Every hour of three years (leap year included), at odd minutes and with and without milliseconds.
    for (let t = Date.parse("2023-12-31T00:07:00Z"); t < Date.parse("2027-01-02T00:00:00Z"); t += 3_600_000 + 61_000) {
      const iso = new Date(t).toISOString();
      samples.push(iso, iso.replace(/\.\d{3}Z$/, "Z"));
    }
    for (const iso of samples) expect(dayOf(iso), iso).toBe(viaDate(iso));
    expect(samples.length).toBeGreaterThan(50_000);
  });

  it("lists the UTC days of a window", () => {
    expect(daysBetween(new Date("2026-11-30T12:00:00Z"), new Date("2026-12-02T00:00:01Z"))).toEqual(["2026-11-30", "2026-12-01", "2026-12-02"]);
    expect(daysBetween(new Date("2026-11-30T00:00:00Z"), new Date("2026-12-01T00:00:00Z"))).toEqual(["2026-11-30"]);
  });
});
