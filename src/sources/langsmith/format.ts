import { traceContextOf } from "../context.js";
import { NO_FACTS, type InputFormat } from "../source.js";
import { addsNoContext, fromLangSmithRun, isRootRun } from "./from-run.js";

/** Runs as `listRuns` / `runs.query` return them, dumped as a JSON array or JSONL. */
export const langSmithRuns: InputFormat = {
  platform: "langsmith",
  kind: "langsmith-runs",
  recognise: (r) =>
    typeof r["run_type"] === "string" ||
    typeof r["dotted_order"] === "string" ||
    (typeof r["trace_id"] === "string" && ("session_id" in r || "project_id" in r)),
  context(raw) {
    // Most runs of a deep trace (tools, retrievers, inner chains) add no facts: not normalized twice.
    if (addsNoContext(raw)) return NO_FACTS;
    const record = fromLangSmithRun(raw);
    return isRootRun(record) ? { node: record, trace: traceContextOf(record) } : { node: record };
  },
  normalize: fromLangSmithRun,
};
