import type { RecordStatus, TraceRecord, Usage } from "../../model/index.js";
import { featureOf, flatScalars } from "../attributes.js";
import { traceContextOf } from "../context.js";
import {
  at, expectObject, firstString, isObject, objectAt, optDecimal, optEnum, optString, requiredId, stringArray, type Json,
} from "../raw.js";
import type { TraceContext } from "../source.js";
import { callText, structuredMetadata } from "../text.js";
import { toIsoUtc } from "../timestamps.js";
import { usageFromServerCounts, usageFromUsageMetadata } from "./usage.js";

const RUN_TYPES = ["llm", "chain", "tool", "retriever", "embedding", "prompt", "parser"] as const;
const STATUSES = ["success", "error", "pending"] as const;
/** Only these are model invocations; chains and the root carry rolled-up totals of their children. */
const MODEL_CALL_TYPES: ReadonlySet<string> = new Set(["llm", "embedding"]);

/** SDK bookkeeping in `extra.metadata`, not tenant attributes. */
function isNoise(key: string): boolean {
  return key.startsWith("ls_") || key === "usage_metadata" || key === "revision_id" ||
    key.startsWith("LANGSMITH_") || key.startsWith("LANGCHAIN_");
}

/**
 * A LangSmith run (v1 `listRuns` / REST, or v2 `runs.query` item) → TraceRecord, without its
 * trace context (the root's tenant metadata is joined later). Throws a plain Error naming the
 * problem when the run is malformed.
 */
export function fromLangSmithRun(raw: unknown): TraceRecord {
  const run = expectObject(raw, "run");
  const id = requiredId(run, "id");
  const parentId = parentOf(run);
  const runType = optEnum(run["run_type"], RUN_TYPES, "run_type");
  if (runType === null) throw new Error("missing run_type");
  const error = errorText(run["error"]);
  const endTime = toIsoUtc(run["end_time"], "end_time");
  const isModelCall = MODEL_CALL_TYPES.has(runType);
  const extra = isObject(run["extra"]) ? run["extra"] : {};
  // v2 returns metadata as its own selectable field; v1 nests it in extra.
  const metadata: Json = { ...objectAt(run, "metadata"), ...objectAt(extra, "metadata") };
  const attributes = flatScalars(metadata, isNoise);
  const cached = extra["cached"] === true;
  const model = isModelCall ? models(run, extra, metadata) : { requested: null, executed: null };
  const usage = isModelCall ? usageOf(run, metadata) : null;

  return {
    platform: "langsmith",
    recordId: id,
    traceId: traceIdOf(run, id, parentId),
    parentId,
    isModelCall,
    name: optString(run, "name") ?? "",
    status: statusOf(run, error, endTime),
    error,
    startTime: toIsoUtc(run["start_time"], "start_time"),
    endTime,
    modelRequested: model.requested,
    modelExecuted: model.executed,
    provider: isModelCall ? firstString(metadata["ls_provider"]) : null,
    usage: usage?.usage ?? null,
    usageEstimated: usage?.estimated ?? false,
    // LangChain JS ends a cache-served run with extra.cached; its usage is zeroed, but
    // response_metadata still holds the original call's usage, which is why usage never comes from there.
    cacheHit: cached,
    cacheHitSignal: cached ? "extra.cached" : null,
    costTotal: isModelCall ? costOf(run, metadata) : null,
    replaySignal: isModelCall ? replaySignalOf(run, metadata, usage?.usage ?? null) : null,
    responseId: isModelCall ? responseIdOf(run) : null,
    attributes,
    tags: stringArray(run["tags"], "tags"),
    feature: featureOf(attributes),
    userId: scalarString(metadata["user_id"] ?? metadata["userId"]),
    // LangSmith groups threads by these metadata keys; session_id on the run is the project.
    sessionId: firstString(run["thread_id"], scalarString(metadata["session_id"]), scalarString(metadata["thread_id"]), scalarString(metadata["conversation_id"])),
    order: optString(run, "dotted_order") ?? toIsoUtc(run["start_time"], "start_time"),
    // Text only where tokens may have to be estimated from it: a model call that reports none.
    ...(isModelCall && usage === null ? callText(at(run, "inputs", "messages") ?? at(run, "inputs", "prompts"), at(run, "outputs", "generations")) : {}),
    // LangGraph writes its own lists (langgraph_path, langgraph_triggers) into every run's metadata.
    ...structuredMetadata(metadata, (k) => isNoise(k) || k.startsWith("langgraph_")),
  };
}

/** The tenant context a root run hands down to its trace; null for a child run. */
export function traceContextFromLangSmithRun(raw: unknown): TraceContext | null {
  const record = fromLangSmithRun(raw);
  return isRootRun(record) ? traceContextOf(record) : null;
}

export function isRootRun(record: TraceRecord): boolean {
  return record.parentId === null || record.recordId === record.traceId;
}

function parentOf(run: Json): string | null {
  const direct = optString(run, "parent_run_id");
  if (direct !== null) return direct;
  const chain = run["parent_run_ids"];
  // Root first, direct parent last.
  if (Array.isArray(chain) && chain.length > 0) {
    const last: unknown = chain[chain.length - 1];
    if (typeof last !== "string") throw new Error("parent_run_ids: expected an array of strings");
    return last;
  }
  return null;
}

function traceIdOf(run: Json, id: string, parentId: string | null): string {
  const traceId = optString(run, "trace_id");
  if (traceId !== null) return traceId;
  // dotted_order's first segment ends with the trace id (its root run's id).
  const dotted = optString(run, "dotted_order");
  const first = dotted?.split(".")[0];
  if (first && first.length > 36) return first.slice(-36);
  if (parentId === null) return id;
  throw new Error("missing trace_id");
}

function errorText(value: unknown): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Success means status success AND no error; a missing status is inferred the same way the UI does. */
function statusOf(run: Json, error: string | null, endTime: string | null): RecordStatus {
  const status = optEnum(run["status"], STATUSES, "status");
  if (status === "error" || error !== null) return "error";
  if (status !== null) return status;
  return endTime === null ? "pending" : "success";
}

function firstMessage(run: Json): Json | undefined {
  const message = objectAt(run, "outputs", "generations", 0, 0, "message");
  if (!message) return undefined;
  // Serialized AIMessage ({lc, type, id, kwargs}) or a plain dict.
  return isObject(message["kwargs"]) ? message["kwargs"] : message;
}

/**
 * Requested = what the app asked for (the field LangSmith prices on); executed = what the
 * provider says served the call (OpenAI answers with a dated snapshot), else the requested one.
 */
function models(run: Json, extra: Json, metadata: Json): { requested: string | null; executed: string | null } {
  const requested = firstString(
    metadata["ls_model_name"],
    at(extra, "invocation_params", "model"),
    at(extra, "invocation_params", "model_name"),
    at(run, "inputs", "model"),
    at(run, "inputs", "model_name"),
  );
  const responseMetadata = objectAt(firstMessage(run), "response_metadata");
  const executed = firstString(
    responseMetadata?.["model_name"],
    responseMetadata?.["model"],
    at(run, "outputs", "llm_output", "model_name"),
    at(run, "outputs", "llm_output", "model"),
    at(run, "outputs", "model"),
  );
  return { requested, executed: executed ?? requested };
}

/** First match wins; usage_metadata is what the SDK reported, server counts may be estimates. */
function usageOf(run: Json, metadata: Json): { usage: Usage; estimated: boolean } | null {
  const candidates: [unknown, string][] = [
    [metadata["usage_metadata"], "extra.metadata.usage_metadata"],
    [at(run, "outputs", "usage_metadata"), "outputs.usage_metadata"],
    [firstMessage(run)?.["usage_metadata"], "outputs.generations[0][0].message.usage_metadata"],
  ];
  for (const [um, field] of candidates) {
    if (um === undefined || um === null) continue;
    if (!isObject(um)) throw new Error(`${field}: expected an object`);
    return { usage: usageFromUsageMetadata(um, field), estimated: false };
  }
  const server = usageFromServerCounts(run);
  return server ? { usage: server, estimated: true } : null;
}

/** The client's own cost (Python cache hits set it to 0) before LangSmith's computed one. */
function costOf(run: Json, metadata: Json): number | null {
  return (
    optDecimal(at(metadata, "usage_metadata", "total_cost"), "usage_metadata.total_cost") ??
    optDecimal(at(run, "outputs", "usage_metadata", "total_cost"), "outputs.usage_metadata.total_cost") ??
    optDecimal(run["total_cost"], "total_cost")
  );
}

/**
 * LangChain Python serves LLM-cache hits with the original usage and "total_cost": 0 in the
 * client's usage_metadata ("We zero out cost on cache hits"); LangSmith's own computed cost
 * is not evidence, since an unpriced model also shows 0 there.
 */
function replaySignalOf(run: Json, metadata: Json, usage: Usage | null): string | null {
  const provided =
    optDecimal(at(metadata, "usage_metadata", "total_cost"), "usage_metadata.total_cost") ??
    optDecimal(at(run, "outputs", "usage_metadata", "total_cost"), "outputs.usage_metadata.total_cost");
  if (provided !== 0 || !usage || usage.input + usage.output === 0) return null;
  return "usage_metadata.total_cost = 0 with tokens (LangChain Python LLM-cache replay)";
}

/** Provider response id (chatcmpl-…, msg_…); LangChain's own `run-…` message ids are not one. */
function responseIdOf(run: Json): string | null {
  const message = firstMessage(run);
  const messageId = stringOrUndefined(message?.["id"]);
  return firstString(
    at(message, "response_metadata", "id"),
    messageId !== undefined && !/^(lc_)?run-/.test(messageId) ? messageId : undefined,
    at(run, "outputs", "id"),
  );
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function scalarString(value: unknown): string | null {
  if (typeof value === "string") return value === "" ? null : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}
