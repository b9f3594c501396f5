import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/pull/clock.js";
import { LangSmithClient } from "../../src/pull/langsmith-client.js";
import { runPull, type PullOptions } from "../../src/pull/pull.js";
import { langSmithPullSource } from "../../src/pull/sources.js";
import { startLangSmithStandin, type LangSmithStandin } from "../../src/pull/standin/index.js";
import { WatermarkStore } from "../../src/pull/watermark.js";
import { testRedis, uniquePrefix } from "../support/redis.js";
import { HOUR, MINUTE, collector, llmRuns, tuning } from "./helpers.js";

type Json = Record<string, unknown>;
const W0 = Date.parse("2026-11-20T09:00:00Z");
const LAG = 15 * MINUTE;

describe("pull: LangSmith runs still pending when their window is read are read again until they finish", () => {
  const redis = testRedis();
  let standin: LangSmithStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
  });

  async function setup(runs: Json[]) {
    const clock = new ManualClock("2026-11-20T11:00:00Z");
    standin = await startLangSmithStandin({ now: () => clock.now(), runs });
    const client = new LangSmithClient({ ...tuning(clock, { burst: 1e9 }), apiUrl: standin.url, apiKey: standin.apiKey });
    const source = langSmithPullSource(client, "prod-assistants");
    const store = new WatermarkStore(redis, uniquePrefix("unfinished"));
    const stream = { platform: "langsmith" as const, project: await source.project() };
    const base = (sink: PullOptions["sink"], extra: Partial<PullOptions> = {}): PullOptions => ({ source, store, sink, from: W0, lagMs: LAG, windowMs: HOUR, clock, ...extra });
    return { clock, store, stream, base };
  }

  const pending = (run: Json): Json => ({ ...run, status: "pending", end_time: null, extra: { metadata: { tenant_id: "acme" } } });

  it("hands a pending run off again, finished and with its trace root, once it completes; then forgets it", async () => {
    const [root] = llmRuns(1, W0 + 60_000, 0, { prefix: "0190eeee-0000-7000-8000" });
    const chain: Json = { ...root!, run_type: "chain", name: "agent", extra: { metadata: { tenant_id: "globex" } } };
    const [child] = llmRuns(1, W0 + 61_000, 0, { prefix: "0190ffff-0000-7000-8000", traceId: chain["id"] as string });
    const done = llmRuns(3, W0 + 120_000, 1000);
    const { clock, store, stream, base } = await setup([chain, pending(child!), ...done]);

    const first = collector();
    const r1 = await runPull(base(first.handler));
    expect(r1.unfinished).toBeUndefined();
    expect(first.ids().sort()).toEqual([chain["id"], child!["id"], ...done.map((r) => r["id"])].sort());
    expect((await store.unfinished(stream)).map((u) => u.id)).toEqual([child!["id"]]);

    // Still running at the next pull: read again, not handed off, kept.
    clock.advance(10 * MINUTE);
    const second = collector();
    const r2 = await runPull(base(second.handler));
    expect(r2.unfinished).toEqual({ revisited: 1, finished: 0, stillRunning: 1, abandoned: [] });
    expect(second.items).toEqual([]);

    // It finishes on the platform: the next pull hands it off finished, with its root as context.
    standin!.updateRuns([{ ...child!, status: "success" }]);
    clock.advance(10 * MINUTE);
    const third = collector();
    const r3 = await runPull(base(third.handler));
    expect(r3.unfinished).toEqual({ revisited: 1, finished: 1, stillRunning: 0, abandoned: [] });
    const handed = third.items.filter((i) => !i.context).map((i) => i.raw as Json);
    expect(handed.map((r) => [r["id"], r["status"]])).toEqual([[child!["id"], "success"]]);
    expect(third.items.filter((i) => i.context).map((i) => (i.raw as Json)["id"])).toEqual([chain["id"]]);
    // Its own hand-off, never one of the time windows.
    expect(third.calls[0]!.window.from).toBe(clock.now());
    expect(await store.unfinished(stream)).toEqual([]);

    const fourth = await runPull(base(collector().handler));
    expect(fourth.unfinished).toBeUndefined();
  });

  it("gives a run up after the maximum age, and says so", async () => {
    const [run] = llmRuns(1, W0 + 60_000, 0);
    const { clock, store, stream, base } = await setup([pending(run!)]);
    await runPull(base(collector().handler));
    expect((await store.unfinished(stream)).length).toBe(1);
    clock.advance(2 * HOUR);
    const r = await runPull(base(collector().handler, { unfinishedMaxAgeMs: HOUR }));
    expect(r.unfinished).toEqual({ revisited: 0, finished: 0, stillRunning: 0, abandoned: [run!["id"]] });
    expect(await store.unfinished(stream)).toEqual([]);
  });
});
