import { traceContextOf } from "../context.js";
import type { InputFormat } from "../source.js";
import { fromLangSmithRun, isRootRun } from "./from-run.js";

/** Runs as `listRuns` / `runs.query` return them, dumped as a JSON array or JSONL. */
export const langSmithRuns: InputFormat = {
  platform: "langsmith",
  kind: "langsmith-runs",
  recognise: (r) =>
    typeof r["run_type"] === "string" ||
    typeof r["dotted_order"] === "string" ||
    (typeof r["trace_id"] === "string" && ("session_id" in r || "project_id" in r)),
  context(raw) {
    const record = fromLangSmithRun(raw);
    return isRootRun(record) ? { node: record, trace: traceContextOf(record) } : { node: record };
  },
  normalize: fromLangSmithRun,
};
