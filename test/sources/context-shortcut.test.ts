import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateBenchExports } from "../../src/bench/generate.js";
import { FALLBACK_CHAIN_NAMES, attemptOf, traceContextOf } from "../../src/sources/context.js";
import { langfuseObservations } from "../../src/sources/langfuse/format.js";
import { addsNoContext as observationAddsNoContext, fromLangfuseObservation } from "../../src/sources/langfuse/from-observation.js";
import { langSmithRuns } from "../../src/sources/langsmith/format.js";
import { addsNoContext as runAddsNoContext, fromLangSmithRun, isRootRun } from "../../src/sources/langsmith/from-run.js";
import type { ContextFacts } from "../../src/sources/source.js";
import { LF_OBSERVATIONS, LS_RUNS, LS_RUNS_V2, repoPath } from "./helpers.js";

// Pass 1 skips normalizing records that cannot add a fact. The facts a store keeps from every
// record (real exports, generated ones, and variants of each around the fields the shortcut
// reads) must be those the full normalizer gives, or none where it throws.

type Raw = Record<string, unknown>;

/** What ContextIndex and RedisContextStore keep from one record's facts. */
function kept(facts: ContextFacts | undefined): unknown {
  const node = facts?.node;
  return {
    trace: facts?.trace,
    chain: node && !node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name) ? node.recordId : undefined,
    attempt: node && node.isModelCall && node.parentId !== null ? [node.parentId, attemptOf(node)] : undefined,
  };
}

function attempt(f: () => ContextFacts): ContextFacts | undefined {
  try {
    return f();
  } catch {
    // A record pass 1 cannot read adds nothing (pass 2 reports it).
    return undefined;
  }
}

const fullRun = (raw: Raw): ContextFacts => {
  const record = fromLangSmithRun(raw);
  return isRootRun(record) ? { node: record, trace: traceContextOf(record) } : { node: record };
};
const fullObservation = (raw: Raw): ContextFacts => ({ node: fromLangfuseObservation(raw) });

const lines = async (path: string): Promise<Raw[]> =>
  (await readFile(path, "utf8")).split("\n").flatMap((l) => {
    try {
      const v: unknown = JSON.parse(l);
      return typeof v === "object" && v !== null && !Array.isArray(v) ? [v as Raw] : [];
    } catch {
      return [];
    }
  });

/** Each record, and copies of it with one field the shortcut (or the root/parent rules) reads changed. */
function variants(records: Raw[], fields: Record<string, unknown[]>): Raw[] {
  const out = [...records];
  for (const r of records) {
    for (const [field, values] of Object.entries(fields)) {
      for (const v of values) {
        const copy = structuredClone(r);
        if (v === undefined) delete copy[field];
        else copy[field] = v === SAME_AS_ID ? r["id"] : v === SAME_AS_TRACE ? r["trace_id"] : v;
        out.push(copy);
      }
    }
  }
  return out;
}
const SAME_AS_ID = Symbol("id");
const SAME_AS_TRACE = Symbol("trace_id");

async function generated(): Promise<{ runs: Raw[]; observations: Raw[] }> {
  const dir = await mkdtemp(join(tmpdir(), "tb-shortcut-"));
  await generateBenchExports(dir, 400);
  return { runs: await lines(join(dir, "langsmith-runs.jsonl")), observations: await lines(join(dir, "langfuse-observations.jsonl")) };
}

describe("pass 1: records that add no context are not normalized", () => {
  it("LangSmith: the facts kept are the full normalizer's, for every run and variant", async () => {
    const runs = [
      ...(await lines(LS_RUNS)),
      ...(JSON.parse(await readFile(LS_RUNS_V2, "utf8")) as Raw[]),
      ...(await lines(repoPath("examples/langsmith/runs.jsonl"))),
      ...(await generated()).runs,
    ];
    const all = variants(runs, {
      run_type: ["llm", "LLM", "Embedding", "chain", "TOOL", "retriever", "nonsense", 7, null, undefined],
      name: ["RunnableWithFallbacks", "runnablewithfallbacks", "", null, 3, undefined],
      parent_run_id: [null, undefined, "", 5, "some-parent", SAME_AS_ID, SAME_AS_TRACE],
      parent_run_ids: [[], ["a", "b"], [3], "x"],
      trace_id: [null, undefined, "", 9, SAME_AS_ID, "other-trace"],
      id: [undefined, "", 4, SAME_AS_TRACE, "other-id"],
      start_time: ["not a time", 12],
      tags: [["x", 1], "x"],
    });
    let skipped = 0;
    for (const raw of all) {
      if (runAddsNoContext(raw)) skipped++;
      expect(kept(attempt(() => langSmithRuns.context(raw)))).toEqual(kept(attempt(() => fullRun(raw))));
    }
    // Not vacuous: tools, retrievers and inner chains of real traces take the shortcut.
    expect(skipped).toBeGreaterThan(50);
  });

  it("Langfuse: the facts kept are the full normalizer's, for every observation and variant", async () => {
    const observations = [
      ...(await lines(LF_OBSERVATIONS)),
      ...(await lines(repoPath("examples/langfuse/observations.jsonl"))),
      ...(await generated()).observations,
    ];
    const all = variants(observations, {
      type: ["GENERATION", "generation", "Embedding", "SPAN", "chain", "EVENT", "nonsense", 1, null, undefined],
      name: ["RunnableWithFallbacks", "runnablewithfallbacks", "", null, 3, undefined],
      parentObservationId: [null, undefined, 5, "some-parent"],
      id: [undefined, "", 3],
      traceId: [undefined, "", 3],
      startTime: ["not a time"],
      usageDetails: ["x", { input: -1 }],
    });
    let skipped = 0;
    for (const raw of all) {
      if (observationAddsNoContext(raw)) skipped++;
      expect(kept(attempt(() => langfuseObservations.context(raw)))).toEqual(kept(attempt(() => fullObservation(raw))));
    }
    expect(skipped).toBeGreaterThan(50);
  });
});
