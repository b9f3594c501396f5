import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/pull/clock.js";
import { runPull } from "../../src/pull/pull.js";
import type { PulledItem, PullSource, TimeWindow } from "../../src/pull/source.js";
import { spoolSink, stamp } from "../../src/pull/spool.js";
import { WatermarkStore } from "../../src/pull/watermark.js";
import { testRedis, uniquePrefix } from "../support/redis.js";
import { HOUR, generations, llmRuns } from "./helpers.js";

const W0 = Date.parse("2026-11-20T09:00:00Z");

/** An in-memory source: two pages per window; `failIn` makes the second page of that window throw. */
function memorySource(opts: { failIn?: number } = {}): PullSource {
  return {
    platform: "langfuse",
    project: async () => "proj/1",
    async *read(w: TimeWindow): AsyncGenerator<PulledItem[]> {
      const obs = generations(4, w.from, 60_000, { prefix: `w${(w.from - W0) / HOUR}` });
      yield obs.slice(0, 2).map((raw) => ({ kind: "observation", raw }));
      if (opts.failIn === w.from) throw new Error("API went away");
      yield obs.slice(2).map((raw) => ({ kind: "observation", raw }));
      yield [{ kind: "trace", raw: { id: `${obs[0]!.traceId}`, timestamp: new Date(w.from).toISOString() } }];
    },
  };
}

describe("spoolSink", () => {
  const redis = testRedis();

  it("puts a window in place only once it is complete; a failed window leaves nothing and keeps the watermark", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tracebill-spool-"));
    const store = new WatermarkStore(redis, uniquePrefix("spool"));
    const stream = { platform: "langfuse" as const, project: "proj/1" };
    const clock = new ManualClock("2026-11-20T12:30:00Z");
    const sink = spoolSink({ dir });
    const opts = { store, sink, from: W0, lagMs: 0, windowMs: HOUR, clock };
    await expect(runPull({ ...opts, source: memorySource({ failIn: W0 + HOUR }) })).rejects.toThrow("API went away");
    expect(await store.get(stream)).toBe(W0 + HOUR);
    const root = join(dir, "langfuse", "proj_1");
    expect(await readdir(root)).toEqual([`${stamp(W0)}_${stamp(W0 + HOUR)}`]);
    expect((await readdir(dir)).filter((f) => f.startsWith(".partial"))).toEqual([]);

    const r = await runPull({ ...opts, source: memorySource() });
    expect(r.windows).toHaveLength(3);
    expect(await readdir(root)).toEqual(["20261120T090000Z_20261120T100000Z", "20261120T100000Z_20261120T110000Z", "20261120T110000Z_20261120T120000Z", "20261120T120000Z_20261120T123000Z"]);
    const w2 = join(root, "20261120T100000Z_20261120T110000Z");
    expect((await readdir(w2)).sort()).toEqual(["observations.jsonl", "traces.jsonl"]);
    const lines = (await readFile(join(w2, "observations.jsonl"), "utf8")).trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(["w1-0000", "w1-0001", "w1-0002", "w1-0003"]);
    // The sink saw the first run's window too: four windows in all, each with both files.
    expect(sink.windows.map((w) => w.files.map((f) => f.slice(w.dir.length + 1)))).toEqual([
      ["traces.jsonl", "observations.jsonl"],
      ["traces.jsonl", "observations.jsonl"],
      ["traces.jsonl", "observations.jsonl"],
      ["traces.jsonl", "observations.jsonl"],
    ]);
  });

  it("keeps a LangSmith context root that is a chain, and leaves out one that is itself a model call", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tracebill-spool-"));
    const sink = spoolSink({ dir });
    const [llmRoot] = llmRuns(1, W0 - HOUR, 0, { prefix: "0190aaaa-1111-7000-8000" });
    const chainRoot: Record<string, unknown> = { ...llmRuns(1, W0 - HOUR, 0, { prefix: "0190bbbb-1111-7000-8000" })[0]!, run_type: "chain" };
    const [own] = llmRuns(1, W0, 0);
    const ctx = { stream: { platform: "langsmith" as const, project: "p" }, window: { from: W0, to: W0 + HOUR } };
    await sink.page([{ kind: "run", raw: own }], { ...ctx, page: 1 });
    await sink.page([{ kind: "run", raw: llmRoot, context: true }, { kind: "run", raw: chainRoot, context: true }], { ...ctx, page: 2 });
    await sink.windowDone!({ ...ctx, report: { from: "", to: "", pages: 2, items: 1, context: 2 } });
    const text = await readFile(sink.windows[0]!.files[0]!, "utf8");
    expect(text.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id)).toEqual([own!["id"], chainRoot["id"]]);
  });
});
