import type { TraceRecord } from "../../model/index.js";
import { NO_FACTS, type InputFormat } from "../source.js";
import { addsNoContext, fromLangfuseObservation, hasCacheHitTag, OBSERVATION_TYPES } from "./from-observation.js";
import { fromLangfuseTrace } from "./from-trace.js";

/** Observations as the public API returns them (v1 or v2 items), dumped as a JSON array or JSONL. */
export const langfuseObservations: InputFormat = {
  platform: "langfuse",
  kind: "langfuse-observations",
  recognise: (r) =>
    typeof r["type"] === "string" && OBSERVATION_TYPES.includes(r["type"]) && ("traceId" in r || "startTime" in r),
  // Spans, events, tools… add no facts unless they are a fallback chain: not normalized twice.
  context: (raw) => (addsNoContext(raw) ? NO_FACTS : { node: fromLangfuseObservation(raw) }),
  normalize: fromLangfuseObservation,
  refine: cacheHitFromTraceTag,
};

/** Traces carry the tenant (metadata, userId) but no usage: context only, no records. */
export const langfuseTraces: InputFormat = {
  platform: "langfuse",
  kind: "langfuse-traces",
  recognise: (r) =>
    "timestamp" in r && !("type" in r) && !("traceId" in r) &&
    ["userId", "metadata", "tags", "observations", "sessionId", "htmlPath"].some((k) => k in r),
  context: (raw) => ({ trace: fromLangfuseTrace(raw) }),
};

/**
 * LiteLLM can tag the trace `cache_hit:True`; the generation itself is the better witness, so
 * an explicit `cache_hit: false` in its own metadata wins over the trace's tag.
 */
function cacheHitFromTraceTag(record: TraceRecord): TraceRecord {
  if (record.cacheHit || !record.isModelCall || !hasCacheHitTag(record.tags)) return record;
  const own = record.attributes["cache_hit"];
  if (own === false || (typeof own === "string" && own.toLowerCase() === "false")) return record;
  return { ...record, cacheHit: true, cacheHitSignal: "tag cache_hit:True" };
}
