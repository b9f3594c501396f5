import type { RecordStatus, TraceRecord, Usage } from "../../model/index.js";
import { featureOf, flatScalars } from "../attributes.js";
import { FALLBACK_CHAIN_NAMES, traceContextOf } from "../context.js";
import {
  at, expectObject, firstString, isObject, NO_FIELDS, objectAt, optDecimal, optEnum, optString, requiredId, stringArray, stringOrNull, type Json,
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
  // The order of these reads is the order of the checks: a run with several problems is
  // quarantined for the first one, so moving a read can change the reason given.
  const run = expectObject(raw, "run");
  const id = requiredId(run, "id");
  const parentId = parentOf(run);
  const runType = optEnum(run["run_type"], RUN_TYPES, "run_type");
  if (runType === null) throw new Error("missing run_type");
  const error = errorText(run["error"]);
  const endTime = toIsoUtc(run["end_time"], "end_time");
  const isModelCall = MODEL_CALL_TYPES.has(runType);
  const extra = isObject(run["extra"]) ? run["extra"] : NO_FIELDS;
  const metadata = metadataOf(run, extra);
  const attributes = flatScalars(metadata, isNoise);
  const cached = extra["cached"] === true;
  // Only model calls read the answer's message (model, usage, response id): found once here.
  const message = isModelCall ? firstMessage(run) : undefined;
  const model = isModelCall ? models(run, extra, metadata, message) : NO_MODEL;
  const usage = isModelCall ? usageOf(run, metadata, message) : null;
  const traceId = traceIdOf(run, id, parentId);
  const name = optString(run, "name") ?? "";
  const status = statusOf(run, error, endTime);
  const startTime = toIsoUtc(run["start_time"], "start_time");
  const provider = isModelCall ? firstString(metadata["ls_provider"]) : null;
  const costTotal = isModelCall ? costOf(run, metadata) : null;
  const replaySignal = isModelCall ? replaySignalOf(run, metadata, usage?.usage ?? null) : null;
  const responseId = isModelCall ? responseIdOf(run, message) : null;
  const tags = stringArray(run["tags"], "tags");
  const userId = scalarString(metadata["user_id"] ?? metadata["userId"]);
  // LangSmith groups threads by these metadata keys; session_id on the run is the project.
  const sessionId = firstString(run["thread_id"], scalarString(metadata["session_id"]), scalarString(metadata["thread_id"]), scalarString(metadata["conversation_id"]));
  const order = optString(run, "dotted_order") ?? startTime;

  const record: TraceRecord = {
    platform: "langsmith",
    recordId: id,
    traceId,
    parentId,
    isModelCall,
    name,
    status,
    error,
    startTime,
    endTime,
    modelRequested: model.requested,
    modelExecuted: model.executed,
    provider,
    usage: usage?.usage ?? null,
    usageEstimated: usage?.estimated ?? false,
    // LangChain JS ends a cache-served run with extra.cached; its usage is zeroed, but
    // response_metadata still holds the original call's usage, which is why usage never comes from there.
    cacheHit: cached,
    cacheHitSignal: cached ? "extra.cached" : null,
    costTotal,
    replaySignal,
    responseId,
    attributes,
    tags,
    feature: featureOf(attributes),
    userId,
    sessionId,
    order,
  };
  // Text only where tokens may have to be estimated from it: a model call that reports none.
  if (isModelCall && usage === null) {
    const text = callText(at(run, "inputs", "messages") ?? at(run, "inputs", "prompts"), at(run, "outputs", "generations"));
    if (text.text) record.text = text.text;
  }
  // LangGraph writes its own lists (langgraph_path, langgraph_triggers) into every run's metadata.
  const structured = structuredMetadata(metadata, isStructuredNoise);
  if (structured.structured) record.structured = structured.structured;
  return record;
}

/** Read-only: never written to or handed on. */
const NO_MODEL = Object.freeze({ requested: null, executed: null });

/** v2 returns metadata as its own selectable field; v1 nests it in extra. Extra's keys win. */
function metadataOf(run: Json, extra: Json): Json {
  const own = objectAt(run, "metadata");
  const nested = objectAt(extra, "metadata");
  // Only read, never handed on: one source alone needs no merged copy.
  if (own && nested) return { ...own, ...nested };
  return nested ?? own ?? NO_FIELDS;
}

function isStructuredNoise(key: string): boolean {
  return isNoise(key) || key.startsWith("langgraph_");
}

/** The tenant context a root run hands down to its trace; null for a child run. */
export function traceContextFromLangSmithRun(raw: unknown): TraceContext | null {
  const record = fromLangSmithRun(raw);
  return isRootRun(record) ? traceContextOf(record) : null;
}

/**
 * True only when the run can add nothing to a context store, decided from four fields without
 * normalizing it: a child run (a string parent_run_id, an id that is not its trace_id) that is
 * neither a model call nor a fallback chain. Whatever else the run holds, fromLangSmithRun either
 * throws on it or gives a node every store ignores. False means "maybe": normalize it.
 */
export function addsNoContext(raw: unknown): boolean {
  if (!isObject(raw)) return false;
  const runType = raw["run_type"];
  // The case-insensitive match optEnum does: anything else is another type, or an error.
  if (typeof runType !== "string" || MODEL_CALL_TYPES.has(runType.toLowerCase())) return false;
  const name = raw["name"];
  if (FALLBACK_CHAIN_NAMES.has(typeof name === "string" ? name : "")) return false;
  const id = raw["id"];
  const traceId = raw["trace_id"];
  return typeof id === "string" && typeof traceId === "string" && id !== traceId && typeof raw["parent_run_id"] === "string";
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
  // objectAt(run, "outputs", "generations", 0, 0, "message") step by step: this runs for every
  // model call, and the generic walk was an eighth of normalizing a run.
  const outputs = run["outputs"];
  if (!isObject(outputs)) return undefined;
  const generations = outputs["generations"];
  if (!Array.isArray(generations)) return undefined;
  const first: unknown = generations[0];
  if (!Array.isArray(first)) return undefined;
  const generation: unknown = first[0];
  if (!isObject(generation)) return undefined;
  const message = generation["message"];
  if (!isObject(message)) return undefined;
  // Serialized AIMessage ({lc, type, id, kwargs}) or a plain dict.
  return isObject(message["kwargs"]) ? message["kwargs"] : message;
}

/**
 * Requested = what the app asked for (the field LangSmith prices on); executed = what the
 * provider says served the call (OpenAI answers with a dated snapshot), else the requested one.
 */
function models(run: Json, extra: Json, metadata: Json, message: Json | undefined): { requested: string | null; executed: string | null } {
  // firstString's order, each candidate read only when the ones before it gave nothing.
  const requested =
    stringOrNull(metadata["ls_model_name"]) ??
    stringOrNull(at(extra, "invocation_params", "model")) ??
    stringOrNull(at(extra, "invocation_params", "model_name")) ??
    stringOrNull(at(run, "inputs", "model")) ??
    stringOrNull(at(run, "inputs", "model_name"));
  const responseMetadata = objectAt(message, "response_metadata");
  const executed =
    stringOrNull(responseMetadata?.["model_name"]) ??
    stringOrNull(responseMetadata?.["model"]) ??
    stringOrNull(at(run, "outputs", "llm_output", "model_name")) ??
    stringOrNull(at(run, "outputs", "llm_output", "model")) ??
    stringOrNull(at(run, "outputs", "model"));
  return { requested, executed: executed ?? requested };
}

/** First match wins; usage_metadata is what the SDK reported, server counts may be estimates. */
function usageOf(run: Json, metadata: Json, message: Json | undefined): { usage: Usage; estimated: boolean } | null {
  const candidates: [unknown, string][] = [
    [metadata["usage_metadata"], "extra.metadata.usage_metadata"],
    [at(run, "outputs", "usage_metadata"), "outputs.usage_metadata"],
    [message?.["usage_metadata"], "outputs.generations[0][0].message.usage_metadata"],
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
function responseIdOf(run: Json, message: Json | undefined): string | null {
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
