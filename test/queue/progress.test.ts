import { describe, expect, it } from "vitest";
import { SyncProgress } from "../../src/queue/progress.js";
import { testRedis, uniquePrefix } from "../support/redis.js";

describe("SyncProgress.settle", () => {
  const redis = testRedis();

  it("counts each occurrence (batch, index) once, whatever re-runs and statuses follow", async () => {
    const prefix = uniquePrefix("progress");
    const progress = new SyncProgress(redis, prefix);
    await progress.start("s1", "lago");
    expect(await progress.settle("s1", "lago", 0, [0, 1, 2, 99], "delivered")).toBe(4);
    // The same batch re-run: nothing new; the next batch's index 0 is another occurrence.
    expect(await progress.settle("s1", "lago", 0, [0, 1, 2, 99], "delivered")).toBe(0);
    expect(await progress.settle("s1", "lago", 0, [3, 2], "already")).toBe(1);
    expect(await progress.settle("s1", "lago", 1, [0], "dead")).toBe(1);
    expect(await progress.settle("s1", "lago", 1, [0, 127], "already")).toBe(1);
    const s = await progress.snapshot("s1");
    expect({ delivered: s!.delivered, already: s!.already, dead: s!.dead, settled: s!.settled }).toEqual({ delivered: 4, already: 2, dead: 1, settled: 7 });
    // Another sync keeps its own bits.
    await progress.start("s2", "lago");
    expect(await progress.settle("s2", "lago", 0, [0, 1], "delivered")).toBe(2);
  });

  it("a week of bits costs bytes per batch, not per event", async () => {
    const prefix = uniquePrefix("progress");
    const progress = new SyncProgress(redis, prefix);
    await progress.start("big", "lago");
    const batch = Array.from({ length: 100 }, (_, i) => i);
    for (let b = 0; b < 100; b++) await progress.settle("big", "lago", b, batch, "delivered");
    expect((await progress.snapshot("big"))!.delivered).toBe(10_000);
    const [bits] = await redis.keys(`${prefix}:sync:{big}:*`);
    // 10,000 events: up to the last batch's 100th bit, 99 × 128 + 100 bits (a set of "b:i" strings took ~600 kB).
    expect(await redis.strlen(bits!)).toBe(Math.ceil((99 * 128 + 100) / 8));
    expect(await redis.ttl(bits!)).toBeGreaterThan(0);
  });

  it("refuses an index outside a batch instead of settling another batch's event", async () => {
    const progress = new SyncProgress(redis, uniquePrefix("progress"));
    await expect(progress.settle("s", "lago", 0, [128], "delivered")).rejects.toThrow(/outside a batch/);
    await expect(progress.settle("s", "lago", -1, [0], "delivered")).rejects.toThrow(/batch number/);
  });
});
