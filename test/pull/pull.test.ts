import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../src/model/index.js";
import { ManualClock } from "../../src/pull/clock.js";
import { LangfuseClient } from "../../src/pull/langfuse-client.js";
import { runPull, type PageContext, type PullOptions } from "../../src/pull/pull.js";
import type { PulledItem } from "../../src/pull/source.js";
import { langfusePullSource } from "../../src/pull/sources.js";
import { startLangfuseStandin, type LangfuseStandin } from "../../src/pull/standin/index.js";
import { LeaseLostError, WatermarkStore } from "../../src/pull/watermark.js";
import { testRedis, uniquePrefix } from "../support/redis.js";
import { HOUR, MINUTE, collector, generations, tuning } from "./helpers.js";

const W0 = Date.parse("2026-11-20T09:00:00Z");
const LAG = 15 * MINUTE;
/** 50 generations, one every 6 minutes from 09:00 to 13:54. */
const SEED = generations(50, W0, 6 * MINUTE);

describe("runPull: windows and the Redis watermark (real Redis, Langfuse stand-in over HTTP)", () => {
  const redis = testRedis();
  let standin: LangfuseStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  async function setup(now: string) {
    const clock = new ManualClock(now);
    standin = await startLangfuseStandin({ now: () => clock.now(), observations: SEED });
    // An unlimited budget keeps virtual time still, so "now − lag" is exact in the assertions.
    const client = new LangfuseClient({ ...tuning(clock, { burst: 1e9 }), host: standin.url, publicKey: standin.publicKey, secretKey: standin.secretKey, observationPageSize: 3 });
    const source = langfusePullSource(client, { traces: false });
    const store = new WatermarkStore(redis, uniquePrefix("pull"));
    const stream = { platform: "langfuse" as const, project: standin.projectId };
    const base = (sink: PullOptions["sink"], extra: Partial<PullOptions> = {}): PullOptions => ({ source, store, sink, from: W0, lagMs: LAG, windowMs: HOUR, clock, ...extra });
    return { clock, standin, source, store, stream, base };
  }

  const idsBefore = (t: number) => SEED.filter((o) => Date.parse(o.startTime as string) < t).map((o) => o.id as string);

  it("stays `lag` behind now, in hour-aligned windows, and continues where it stopped when time moves on", async () => {
    const { clock, store, stream, base } = await setup("2026-11-20T14:07:00Z");
    const first = collector();
    const r1 = await runPull(base(first.handler));
    expect(r1.status).toBe("pulled");
    expect(r1.windows.map((w) => [w.from.slice(11, 16), w.to.slice(11, 16)])).toEqual([
      ["09:00", "10:00"], ["10:00", "11:00"], ["11:00", "12:00"], ["12:00", "13:00"], ["13:00", "13:52"],
    ]);
    expect(await store.get(stream)).toBe(Date.parse("2026-11-20T13:52:00Z"));
    expect(await store.get(stream)).toBe(clock.now() - LAG);
    expect(first.ids().sort()).toEqual(idsBefore(Date.parse("2026-11-20T13:52:00Z")));

    const idle = await runPull(base(collector().handler));
    expect(idle.status).toBe("up-to-date");

    clock.advance(30 * MINUTE);
    const second = collector();
    const r2 = await runPull(base(second.handler));
    expect(r2.windows.map((w) => [w.from.slice(11, 16), w.to.slice(11, 16)])).toEqual([["13:52", "14:00"], ["14:00", "14:22"]]);
    expect(await store.get(stream)).toBe(clock.now() - LAG);
    const all = [...first.ids(), ...second.ids()];
    expect(all.sort()).toEqual(SEED.map((o) => o.id as string).sort());
  });

  it("a runner killed mid-window resumes at the start of that window: no window skipped, finished ones not read again", async () => {
    const { store, stream, base, standin: s } = await setup("2026-11-20T14:07:00Z");
    const handed: PulledItem[] = [];
    const crashing = async (items: PulledItem[], ctx: PageContext) => {
      if (ctx.window.from === W0 + HOUR && ctx.page === 2) throw new Error("worker killed");
      handed.push(...items);
    };
    await expect(runPull(base(crashing))).rejects.toThrow("worker killed");
    expect(await store.get(stream)).toBe(W0 + HOUR);
    const crashedAt = s.log.length;

    const again = collector();
    const r = await runPull(base(again.handler));
    expect(r.windows[0]!.from).toBe("2026-11-20T10:00:00.000Z");
    expect(again.calls[0]).toMatchObject({ page: 1, window: { from: W0 + HOUR } });
    // The window that failed is read whole, from its first page.
    const window2 = SEED.filter((o) => { const t = Date.parse(o.startTime as string); return t >= W0 + HOUR && t < W0 + 2 * HOUR; }).map((o) => o.id as string);
    expect(again.ids().filter((id) => window2.includes(id)).sort()).toEqual(window2.sort());
    // The finished window is not asked for again.
    expect(s.log.slice(crashedAt).some((q) => new URLSearchParams(q.query).get("fromStartTime") === "2026-11-20T09:00:00.000Z")).toBe(false);
    const window1 = idsBefore(W0 + HOUR);
    expect(again.ids().some((id) => window1.includes(id))).toBe(false);
    // Everything, with the first window from the crashed run.
    const delivered = new Set([...handed.filter((i) => window1.includes((i.raw as { id: string }).id)).map((i) => (i.raw as { id: string }).id), ...again.ids()]);
    expect([...delivered].sort()).toEqual(idsBefore(Date.parse("2026-11-20T13:52:00Z")));
  });

  it("two concurrent runners: the second finds the stream busy; nothing is handed off twice", async () => {
    const { base, store, stream } = await setup("2026-11-20T14:07:00Z");
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inside = new Promise<void>((r) => (entered = r));
    const a = collector();
    const b = collector();
    const slow = async (items: PulledItem[], ctx: PageContext) => {
      entered();
      await gate;
      await a.handler(items, ctx);
    };
    const runA = runPull(base(slow));
    // B starts while A is in the middle of its first window.
    await inside;
    const rb = await runPull(base(b.handler));
    expect(rb.status).toBe("busy");
    expect(b.items).toHaveLength(0);
    release();
    const ra = await runA;
    expect(ra.status).toBe("pulled");
    expect(a.ids().sort()).toEqual(idsBefore(Date.parse("2026-11-20T13:52:00Z")));
    expect(await store.get(stream)).toBe(Date.parse("2026-11-20T13:52:00Z"));
  });

  it("a runner whose lease expired mid-window stops before its next hand-off and never moves the watermark", async () => {
    const { base, store, stream } = await setup("2026-11-20T14:07:00Z");
    const b = collector();
    let taken = false;
    const a = collector();
    const stalled = async (items: PulledItem[], ctx: PageContext) => {
      await a.handler(items, ctx);
      if (taken) return;
      taken = true;
      // A stalls past its lease (its key expires) and B takes the stream over and finishes it.
      await redis.del(store.keys(stream).lock);
      const rb = await runPull(base(b.handler));
      expect(rb.status).toBe("pulled");
    };
    await expect(runPull(base(stalled))).rejects.toBeInstanceOf(LeaseLostError);
    expect(a.calls).toHaveLength(1);
    expect(await store.get(stream)).toBe(Date.parse("2026-11-20T13:52:00Z"));
    expect(b.ids().sort()).toEqual(idsBefore(Date.parse("2026-11-20T13:52:00Z")));
  });

  it("late data: an item that lands within the lag is read by a later pull; later than the lag it needs a replay", async () => {
    const { clock, base, store, stream, standin: s } = await setup("2026-11-20T12:00:00Z");
    await runPull(base(collector().handler));
    expect(await store.get(stream)).toBe(Date.parse("2026-11-20T11:45:00Z"));

    // Both arrive after the first pull: one started 11:50 (still inside the lag), one 11:30 (behind the watermark).
    const [withinLag] = generations(1, Date.parse("2026-11-20T11:50:00Z"), 0, { prefix: "late" });
    const [tooLate] = generations(1, Date.parse("2026-11-20T11:30:00Z"), 0, { prefix: "later" });
    s.addObservations([withinLag!, tooLate!]);
    clock.advance(20 * MINUTE);
    const next = collector();
    await runPull(base(next.handler));
    expect(next.ids()).toContain("late-0000");
    expect(next.ids()).not.toContain("later-0000");

    const replay = collector();
    const r = await runPull(base(replay.handler, { replay: true, from: "2026-11-20T11:00:00Z", to: "2026-11-20T12:00:00Z" }));
    expect(r.status).toBe("replayed");
    expect(replay.ids()).toContain("later-0000");
    expect(await store.get(stream)).toBe(Date.parse("2026-11-20T12:05:00Z"));
  });

  it("a stream never pulled needs a start; once it has a watermark, --from cannot make it skip or re-read", async () => {
    const { base, store, stream } = await setup("2026-11-20T14:07:00Z");
    await expect(runPull(base(collector().handler, { from: undefined }))).rejects.toBeInstanceOf(UserError);
    await runPull(base(collector().handler, { to: "2026-11-20T11:00:00Z" }));
    expect(await store.get(stream)).toBe(W0 + 2 * HOUR);
    const later = collector();
    await runPull(base(later.handler, { from: "2026-11-20T13:00:00Z" }));
    expect(later.calls[0]!.window.from).toBe(W0 + 2 * HOUR);
  });
});
