import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import type { DeadLetter } from "../../src/ledger/ledger.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import type { BillableEvent } from "../../src/model/index.js";
import { testRedis, testRedisUrl, uniquePrefix } from "../support/redis.js";

function ev(id: string, customer: string, value = 1): BillableEvent {
  return {
    id, customer, metric: "llm_tokens", value, timestamp: "2026-11-20T10:00:00.000Z",
    properties: { model: "gpt-4o", type: "input" },
    source: { platform: "langsmith", record_id: `run-${id}`, trace_id: "t" },
    mapping: "llm-tokens",
  };
}

const NO_SUB = "customer initech has no active subscription";
const BAD_TS = "timestamp: invalid_format";

/** 6 letters: 3 × initech (no subscription), 2 × acme (bad timestamp), 1 × acme (no subscription). */
function letters(): DeadLetter[] {
  return [
    { event: ev("i1", "initech"), reason: NO_SUB, at: "2026-11-20T10:00:01.000Z", attempts: 1 },
    { event: ev("i2", "initech"), reason: NO_SUB, at: "2026-11-20T10:00:02.000Z", attempts: 1 },
    { event: ev("i3", "initech"), reason: NO_SUB, at: "2026-11-20T10:00:03.000Z", attempts: 1 },
    { event: ev("a1", "acme"), reason: BAD_TS, at: "2026-11-20T10:00:04.000Z", attempts: 1 },
    { event: ev("a2", "acme", 0.1 + 0.2), reason: BAD_TS, at: "2026-11-20T10:00:05.000Z", attempts: 1 },
    { event: ev("a3", "acme"), reason: "gave up after 10 attempts: HTTP 503 customer acme has no active subscription", at: "2026-11-20T10:00:06.000Z", attempts: 10 },
  ];
}

describe("RedisLedger dead letters", () => {
  const redis = testRedis();
  let ledger: RedisLedger;
  let prefix: string;
  const fresh = async () => {
    prefix = uniquePrefix("dlq");
    ledger = new RedisLedger(redis, { prefix, ttlSeconds: 3600 });
    await ledger.deadLetter("lago", letters());
  };

  it("lists with counts by reason, filters by reason substring and customer, oldest first", async () => {
    await fresh();
    const all = await ledger.listDeadLetters("lago");
    expect(all.total).toBe(6);
    expect(all.letters.map((l) => l.event.id)).toEqual(["i1", "i2", "i3", "a1", "a2", "a3"]);
    expect(all.byReason).toEqual({ [NO_SUB]: 3, [BAD_TS]: 2, [letters()[5]!.reason]: 1 });
    expect(all.letters[0]).toMatchObject({ reason: NO_SUB, attempts: 1, times: 1, retries: 0, firstAt: "2026-11-20T10:00:01.000Z" });
    expect(all.letters[0]?.event.source.record_id).toBe("run-i1");
    // Values survive exactly (no Lua re-encoding).
    expect(all.letters[4]?.event.value).toBe(0.1 + 0.2);

    const sub = await ledger.listDeadLetters("lago", { reason: "NO ACTIVE subscription" });
    expect(sub.total).toBe(4);
    expect(await ledger.listDeadLetters("lago", { reason: "subscription", customer: "acme" })).toMatchObject({ total: 1, byReason: { [letters()[5]!.reason]: 1 } });
    const limited = await ledger.listDeadLetters("lago", { customer: "initech", limit: 2 });
    expect(limited.total).toBe(3);
    expect(limited.letters.map((l) => l.event.id)).toEqual(["i1", "i2"]);
    expect((await ledger.listDeadLetters("openmeter")).total).toBe(0);
    // The reconcile report's reader still works.
    expect((await ledger.deadLetters("lago", 100)).length).toBe(6);
  });

  it("shows one letter; a repeated rejection overwrites it and counts", async () => {
    await fresh();
    await ledger.deadLetter("lago", [{ event: ev("i1", "initech"), reason: "still no subscription", at: "2026-11-21T00:00:00.000Z", attempts: 3 }]);
    expect(await ledger.deadLetterOf("lago", "i1")).toMatchObject({
      reason: "still no subscription", at: "2026-11-21T00:00:00.000Z", firstAt: "2026-11-20T10:00:01.000Z", times: 2, attempts: 3, retries: 0,
    });
    expect(await ledger.deadLetterOf("lago", "nope")).toBeNull();
  });

  it("reads letters written before firstAt / times / retries existed", async () => {
    await fresh();
    const old = { event: ev("old", "acme"), reason: "r", at: "2025-01-01T00:00:00.000Z" };
    await redis.hset(`${prefix}:ledger:{lago}:dlq`, "old", JSON.stringify(old));
    expect(await ledger.deadLetterOf("lago", "old")).toEqual({ ...old, firstAt: old.at, times: 1, retries: 0 });
    await ledger.deadLetter("lago", [{ ...old, at: "2025-01-02T00:00:00.000Z" }]);
    expect(await ledger.deadLetterOf("lago", "old")).toMatchObject({ firstAt: old.at, times: 2 });
  });

  it("takes letters atomically: concurrent retries never get the same event", async () => {
    await fresh();
    const many: DeadLetter[] = Array.from({ length: 1200 }, (_, i) => ({ event: ev(`m${i}`, i % 2 ? "acme" : "globex"), reason: `r${i % 3}`, at: new Date(Date.UTC(2026, 0, 1) + i).toISOString() }));
    await ledger.deadLetter("lago", many);
    const conns = Array.from({ length: 4 }, () => new Redis(testRedisUrl()));
    try {
      const takers = conns.map((c) => new RedisLedger(c, { prefix, ttlSeconds: 3600 }));
      const got = await Promise.all(takers.map((t) => t.takeDeadLetters("lago", { all: true })));
      const ids = got.flat().map((l) => l.event.id);
      expect(ids.length).toBe(1206);
      expect(new Set(ids).size).toBe(1206);
      expect((await ledger.listDeadLetters("lago")).total).toBe(0);
    } finally {
      await Promise.all(conns.map((c) => c.quit()));
    }
  });

  it("takes by ids and by filter with a limit; a retried event that fails again comes back, counted", async () => {
    await fresh();
    const byIds = await ledger.takeDeadLetters("lago", { ids: ["a1", "zz", "i2"] });
    expect(byIds.map((l) => l.event.id).sort()).toEqual(["a1", "i2"]);
    expect(byIds.find((l) => l.event.id === "a1")?.reason).toBe(BAD_TS);
    const byFilter = await ledger.takeDeadLetters("lago", { reason: "subscription", customer: "initech", limit: 1 });
    expect(byFilter.map((l) => l.event.id)).toEqual(["i1"]);
    expect((await ledger.listDeadLetters("lago")).letters.map((l) => l.event.id)).toEqual(["i3", "a2", "a3"]);

    // The retry is refused again: back in the list, with the retry counted.
    await ledger.deadLetter("lago", [{ event: byIds[0]!.event, reason: "again", at: "2026-11-22T00:00:00.000Z", attempts: 1 }]);
    const back = await ledger.deadLetterOf("lago", byIds[0]!.event.id);
    expect(back).toMatchObject({ reason: "again", retries: 1, times: 1 });
    // … and a second round counts again.
    await ledger.takeDeadLetters("lago", { ids: [byIds[0]!.event.id] });
    await ledger.deadLetter("lago", [{ event: byIds[0]!.event, reason: "again", at: "2026-11-23T00:00:00.000Z" }]);
    expect((await ledger.deadLetterOf("lago", byIds[0]!.event.id))?.retries).toBe(2);
  });

  it("restores taken letters when handing them on failed, without overwriting a newer letter", async () => {
    await fresh();
    const taken = await ledger.takeDeadLetters("lago", { customer: "initech" });
    expect(taken).toHaveLength(3);
    await ledger.deadLetter("lago", [{ event: taken[0]!.event, reason: "newer", at: "2026-12-01T00:00:00.000Z" }]);
    await ledger.restoreDeadLetters("lago", taken);
    const list = await ledger.listDeadLetters("lago", { customer: "initech" });
    expect(list.total).toBe(3);
    expect(list.letters.find((l) => l.event.id === taken[0]!.event.id)?.reason).toBe("newer");
    expect(list.letters.find((l) => l.event.id === taken[1]!.event.id)).toMatchObject({ reason: NO_SUB, retries: 0 });
  });

  it("purges chosen or all letters and says how many; refuses an empty selection", async () => {
    await fresh();
    await expect(ledger.purgeDeadLetters("lago", {})).rejects.toThrow(/empty/);
    await expect(ledger.takeDeadLetters("lago", {})).rejects.toThrow(/empty/);
    expect(await ledger.purgeDeadLetters("lago", { ids: ["a1", "nope"] })).toBe(1);
    expect(await ledger.purgeDeadLetters("lago", { reason: "timestamp" })).toBe(1);
    expect(await ledger.purgeDeadLetters("lago", { customer: "initech", limit: 2 })).toBe(2);
    expect(await ledger.purgeDeadLetters("lago", { all: true })).toBe(2);
    expect(await ledger.purgeDeadLetters("lago", { all: true })).toBe(0);
    expect((await ledger.listDeadLetters("lago")).total).toBe(0);
  });
});
