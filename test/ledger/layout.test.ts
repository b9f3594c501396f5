import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { benchEvents, measureLedgerMemory } from "../../src/bench/ledger-memory.js";
import { fingerprint } from "../../src/ledger/fingerprint.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { idempotencyKey, type BillableEvent } from "../../src/model/index.js";
import { testRedis, testRedisUrl, uniquePrefix } from "../support/redis.js";

function ev(i: number, seed: string): BillableEvent {
  const recordId = `${seed}-${i}`;
  return {
    id: idempotencyKey({ platform: "langfuse", recordId, mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 }),
    customer: `c${i % 7}`,
    metric: "llm_tokens",
    value: 1 + (i % 13) + (i % 5) / 4,
    timestamp: `2026-03-0${1 + (i % 3)}T08:00:00.000Z`,
    properties: { model: i % 2 ? "gpt-4o" : "claude", type: "input" },
    source: { platform: "langfuse", record_id: recordId, trace_id: "t" },
    mapping: "llm-tokens",
  };
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe("ledger fingerprints", () => {
  it("gives 1e5 distinct tracebill keys distinct 64-bit fingerprints", () => {
    const fps = new Set<string>();
    const pairs = new Set<string>();
    const seed = randomBytes(8).toString("hex");
    let badRoute = 0;
    for (let i = 0; i < 100_000; i++) {
      const key = idempotencyKey({ platform: "langsmith", recordId: `${seed}-${i}`, mapping: "m", metric: "llm_tokens", discriminator: String(i % 2), split: 0 });
      const f = fingerprint(key);
      if (!(Number.isInteger(f.route) && f.route >= 0 && f.route < 2 ** 32)) badRoute++;
      fps.add(f.fp);
      pairs.add(`${f.fp}/${f.route}`);
    }
    expect(badRoute).toBe(0);
    expect(fps.size).toBe(100_000);
    expect(pairs.size).toBe(100_000);
  });

  it("decodes tracebill keys and hashes anything else, canonically for an intset", () => {
    const key = `tb_${Buffer.alloc(24, 0xff).toString("base64url")}`;
    expect(fingerprint(key)).toEqual({ fp: "-1", route: 2 ** 32 - 1 });
    const zero = `tb_${Buffer.alloc(24).toString("base64url")}`;
    expect(fingerprint(zero)).toEqual({ fp: "0", route: 0 });
    for (const k of ["k1", "tb_evt_00001", "tb_short"]) {
      const f = fingerprint(k);
      expect(f.fp).toMatch(/^-?[1-9]\d*$|^0$/);
      expect(fingerprint(k)).toEqual(f);
    }
    expect(fingerprint("k1")).not.toEqual(fingerprint("k2"));
  });
});

describe("ledger layout", () => {
  const redis = testRedis();

  it("counts each event once when many workers record overlapping batches while epochs open", async () => {
    const prefix = uniquePrefix("ledger");
    const seed = randomBytes(4).toString("hex");
    const events = Array.from({ length: 3000 }, (_, i) => ev(i, seed));
    // Tiny buckets so epochs fill and open during the race (fill 2 → epochs of 2, 8, 32, … members).
    const conns = Array.from({ length: 8 }, () => new Redis(testRedisUrl()));
    try {
      const ledgers = conns.map((c) => new RedisLedger(c, { prefix, ttlSeconds: 3600, bucketFill: 2 }));
      const results = await Promise.all(
        ledgers.map(async (l) => {
          // Each worker gets about half of the events, shuffled, with in-batch duplicates.
          const mine = shuffle(events.filter(() => Math.random() < 0.5));
          let n = 0;
          for (let i = 0; i < mine.length; i += 40) {
            const batch = mine.slice(i, i + 40);
            n += await l.recordDelivered("openmeter", [...batch, ...batch.slice(0, 5)]);
          }
          return { n, ids: new Set(mine.map((e) => e.id)) };
        }),
      );
      const covered = events.filter((e) => results.some((r) => r.ids.has(e.id)));
      expect(results.reduce((s, r) => s + r.n, 0)).toBe(covered.length);

      const ledger = ledgers[0]!;
      expect((await ledger.epochs("openmeter")).length).toBeGreaterThan(3);
      expect(await ledger.filterUndelivered("openmeter", events.map((e) => e.id))).toEqual(events.filter((e) => !covered.includes(e)).map((e) => e.id));
      // Aggregates moved once per event.
      const totals = await ledger.totals("openmeter", new Date("2026-03-01T00:00:00Z"), new Date("2026-03-04T00:00:00Z"));
      const sum = (xs: { value: number }[]) => xs.reduce((s, x) => s + x.value, 0);
      expect(totals.reduce((s, t) => s + t.events, 0)).toBe(covered.length);
      expect(sum(totals)).toBeCloseTo(sum(covered), 6);
      // Replaying everything adds nothing.
      expect(await ledger.recordDelivered("openmeter", covered)).toBe(0);
    } finally {
      await Promise.all(conns.map((c) => c.quit()));
    }
  });

  it("grows epochs when full and sizes each new window for the last one's volume", async () => {
    const prefix = uniquePrefix("ledger");
    const seed = randomBytes(4).toString("hex");
    // Window 0: every recording starts a new window.
    const ledger = new RedisLedger(redis, { prefix, ttlSeconds: 3600, bucketFill: 4, windowSeconds: 0 });
    const first = Array.from({ length: 40 }, (_, i) => ev(i, seed));
    expect(await ledger.recordDelivered("lago", first)).toBe(40);
    // 4 members at depth 0, 16 at depth 2, the other 20 at depth 4.
    expect((await ledger.epochs("lago")).map((e) => e.depth)).toEqual([4, 2, 0]);
    const second = Array.from({ length: 10 }, (_, i) => ev(100 + i, seed));
    expect(await ledger.recordDelivered("lago", [...second, ...first])).toBe(10);
    // The new window is sized for 40 members: 2^4 buckets × 4 ≥ 40 > 2^3 × 4.
    expect((await ledger.epochs("lago")).map((e) => e.depth)).toEqual([4, 4, 2, 0]);
    expect(await ledger.filterUndelivered("lago", [...first, ...second].map((e) => e.id))).toEqual([]);
    // An idle window (nothing recorded) is sized down to one bucket.
    expect(await ledger.recordDelivered("lago", first.slice(0, 3))).toBe(0);
    expect(await ledger.recordDelivered("lago", [ev(200, seed)])).toBe(1);
    expect((await ledger.epochs("lago"))[0]?.depth).toBe(0);
  });

  it("honours per-event keys of the previous layout until none remain", async () => {
    const prefix = uniquePrefix("ledger");
    const seed = randomBytes(4).toString("hex");
    const ledger = new RedisLedger(redis, { prefix, ttlSeconds: 3600 });
    const [a, b] = [ev(1, seed), ev(2, seed)];
    const legacy = `${prefix}:ledger:{lago}:k:${a.id}`;
    await redis.set(legacy, "1", "EX", 3600);
    expect(await ledger.filterUndelivered("lago", [a.id, b.id])).toEqual([b.id]);
    expect(await ledger.recordDelivered("lago", [a, b])).toBe(1);
    const totals = await ledger.totals("lago", new Date("2026-03-01T00:00:00Z"), new Date("2026-03-04T00:00:00Z"));
    expect(totals.reduce((s, t) => s + t.events, 0)).toBe(1);
    expect(await ledger.retireLegacyKeys("lago")).toBe(false);
    await redis.del(legacy); // as when it expires
    expect(await ledger.retireLegacyKeys("lago")).toBe(true);
    expect(await ledger.retireLegacyKeys("lago")).toBe(true);
    // Marked: old-layout keys are no longer looked at.
    await redis.set(legacy, "1", "EX", 3600);
    expect(await ledger.filterUndelivered("lago", [a.id])).toEqual([a.id]);
  });

  it("holds at most 32 bytes per delivered event (200k events, measured with MEMORY USAGE)", async () => {
    const r = await measureLedgerMemory(redis, benchEvents(200_000), { prefix: uniquePrefix("ledgermem") });
    console.log(
      `ledger memory: ${r.bytesPerEvent.toFixed(2)} B/event (fingerprints ${r.fingerprintBytesPerEvent.toFixed(2)}), ` +
        `${r.buckets} buckets, largest ${r.largestBucket}, epochs ${r.epochs.map((e) => e.depth).join("/")}; ` +
        `used_memory delta ${r.usedMemoryPerEvent.toFixed(2)} B/event (shared server: indicative only)`,
    );
    expect(r.recorded).toBe(200_000);
    expect(r.bytesPerEvent).toBeLessThanOrEqual(32);
    expect(r.fingerprintBytesPerEvent).toBeLessThanOrEqual(16);
    // Every bucket kept the compact encoding.
    expect(Object.keys(r.encodings)).toEqual(["intset"]);
    expect(r.largestBucket).toBeLessThanOrEqual(512);
  });
});
