import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateBenchExports } from "../../src/bench/generate.js";
import type { TraceRecord } from "../../src/model/index.js";
import { ContextIndex, type ContextStore } from "../../src/sources/context.js";
import { RedisContextStore } from "../../src/sources/redis-context.js";
import { readInputs } from "../../src/sources/registry.js";
import type { SourceItem } from "../../src/sources/source.js";
import { testRedis, uniquePrefix } from "../support/redis.js";
import { LF_OBSERVATIONS, LF_TRACES, LS_RUNS, LS_RUNS_V2, repoPath } from "./helpers.js";

// The worker joins through Redis (one script call per page on a server, per key on a cluster),
// preview in memory: both must give every record the same context and first attempt.

/** Everything the read hands on (records with their join, quarantine entries, notes), in order. */
const readAll = async (files: string[], store: ContextStore): Promise<SourceItem[]> => {
  const out: SourceItem[] = [];
  for await (const item of readInputs(files, { store })) out.push(item);
  return out;
};
const joined = async (files: string[], store: ContextStore): Promise<{ record: TraceRecord; contextFound: boolean }[]> =>
  (await readAll(files, store)).flatMap((i) => (i.kind === "record" ? [{ record: i.record, contextFound: i.contextFound }] : []));

const run = (id: string, over: Record<string, unknown>) => ({
  id, trace_id: "t-fb", run_type: "chain", name: "step", status: "success", start_time: "2026-11-02T10:00:00Z", end_time: "2026-11-02T10:00:01Z", ...over,
});

/** A fallback chain whose attempts come before and after it, with orders out of line, and a root described twice. */
async function trickyExport(): Promise<string> {
  const dir = await mkdtemp(joinPath(tmpdir(), "tb-join-"));
  const llm = (id: string, model: string, order: string, status = "error") =>
    run(id, { parent_run_id: "fb-1", run_type: "llm", name: "ChatOpenAI", status, dotted_order: order, extra: { metadata: { ls_model_name: model }, usage_metadata: status === "success" ? { input_tokens: 5, output_tokens: 2 } : undefined } });
  const lines = [
    llm("a-3", "claude-3-5-haiku", "20261102T100000300000Zt-fb.3", "success"),
    run("t-fb", { parent_run_id: null, extra: { metadata: { tenant_id: "acme", plan: "pro" } }, tags: ["one"] }),
    run("fb-1", { parent_run_id: "t-fb", name: "RunnableWithFallbacks" }),
    llm("a-1", "gpt-4o", "20261102T100000100000Zt-fb.1"),
    llm("a-2", "gpt-4o-mini", "20261102T100000200000Zt-fb.2"),
    // The same root again (overlapping export windows): attributes and tags are merged.
    run("t-fb", { parent_run_id: null, extra: { metadata: { feature: "chat" } }, tags: ["two"], thread_id: "th-1" }),
  ];
  const path = joinPath(dir, "fallbacks.jsonl");
  await writeFile(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return path;
}

describe("the Redis join equals the in-memory join", () => {
  const redis = testRedis();
  let generated: string[];
  beforeAll(async () => {
    const dir = await mkdtemp(joinPath(tmpdir(), "tb-join-gen-"));
    generated = (await generateBenchExports(dir, 3_000, { seed: 5 })).files;
  });

  const cases: [string, () => Promise<string[]>][] = [
    ["the LangSmith example", async () => [repoPath("examples/langsmith/runs.jsonl")]],
    ["the Langfuse example", async () => [repoPath("examples/langfuse/observations.jsonl"), repoPath("examples/langfuse/traces.json")]],
    ["LangSmith runs (JSONL and v2 pages)", async () => [LS_RUNS, LS_RUNS_V2]],
    ["Langfuse observations before their traces", async () => [LF_OBSERVATIONS, LF_TRACES]],
    ["a fallback chain, attempts out of order, a root described twice", async () => [await trickyExport()]],
    ["3,000 generated records over several pages", async () => generated],
  ];
  for (const [name, files] of cases) {
    it(name, async () => {
      const inputs = await files();
      const memory = await readAll(inputs, new ContextIndex());
      expect(memory.filter((i) => i.kind === "record").length).toBeGreaterThan(0);
      for (const perKey of [false, true]) {
        const store = new RedisContextStore(redis, { prefix: uniquePrefix("join"), ttlSeconds: 60, parkSeconds: 60, perKey });
        expect(await readAll(inputs, store)).toEqual(memory);
      }
    });
  }

  it("the tricky export joins as its rules say: tenant and merged tags, the earliest ordered attempt as the model requested", async () => {
    const store = new RedisContextStore(redis, { prefix: uniquePrefix("join"), ttlSeconds: 60, parkSeconds: 60 });
    const byId = new Map((await joined([await trickyExport()], store)).map((j) => [j.record.recordId, j]));
    const a3 = byId.get("a-3")!;
    expect(a3.contextFound).toBe(true);
    expect(a3.record.attributes).toMatchObject({ tenant_id: "acme", plan: "pro", feature: "chat" });
    expect(a3.record.tags.sort()).toEqual(["one", "two"]);
    expect(a3.record.sessionId).toBe("th-1");
    expect(a3.record.modelRequested).toBe("gpt-4o");
    expect(a3.record.modelExecuted).toBe("claude-3-5-haiku");
  });
});
