import type { TraceRecord, Usage } from "../../model/index.js";
import { featureOf, flatScalars } from "../attributes.js";
import { FALLBACK_CHAIN_NAMES } from "../context.js";
import {
  at, expectObject, firstString, isObject, NO_FIELDS, optDecimal, optEnum, optString, requiredId, stringArray, type Json,
} from "../raw.js";
import { callText, structuredMetadata } from "../text.js";
import { toIsoUtc } from "../timestamps.js";
import { usageFromLegacyUsage, usageFromUsageDetails } from "./usage-details.js";

const TYPES = ["SPAN", "EVENT", "GENERATION", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING", "GUARDRAIL"] as const;
const LEVELS = ["DEBUG", "DEFAULT", "WARNING", "ERROR"] as const;
/** The only types that carry usage and cost; the others describe work around the model. */
const MODEL_CALL_TYPES: ReadonlySet<string> = new Set(["GENERATION", "EMBEDDING"]);

export const OBSERVATION_TYPES: readonly string[] = TYPES;

/** LangChain metadata copied by the Python handler (ls_*) is bookkeeping, not tenant data. */
function isNoise(key: string): boolean {
  return key.startsWith("ls_") || key.startsWith("langfuse_");
}

/**
 * A Langfuse observation (public API v1 `ObservationsView`, v2 item, UI JSON/JSONL export) →
 * TraceRecord, without its trace context (tenant usually lives on the trace). Throws a plain
 * Error naming the problem when malformed.
 */
export function fromLangfuseObservation(raw: unknown): TraceRecord {
  const obs = expectObject(raw, "observation");
  const id = requiredId(obs, "id");
  const traceId = requiredId(obs, "traceId");
  const type = optEnum(obs["type"], TYPES, "type");
  if (type === null) throw new Error("missing type");
  const level = optEnum(obs["level"], LEVELS, "level") ?? "DEFAULT";
  const isModelCall = MODEL_CALL_TYPES.has(type);
  const metadata: Json = isObject(obs["metadata"]) ? obs["metadata"] : NO_FIELDS;
  const attributes = flatScalars(metadata, isNoise);
  // v1 calls it `model`, v2 `providedModelName` (the Fern v2 type says `model`): accept both.
  const model = firstString(obs["model"], obs["providedModelName"]);
  const tags = stringArray(obs["tags"], "tags");
  const cacheHit = cacheHitSignal(metadata, tags);
  const startTime = toIsoUtc(obs["startTime"], "startTime");
  const usage = isModelCall ? usageOf(obs, isLiteLLM(metadata)) : null;

  const parentId = optString(obs, "parentObservationId");
  const name = optString(obs, "name") ?? "";
  const error = level === "ERROR" ? (optString(obs, "statusMessage") ?? "level ERROR") : null;
  const endTime = toIsoUtc(obs["endTime"], "endTime");
  const provider = isModelCall ? firstString(metadata["ls_provider"], at(metadata, "hidden_params", "custom_llm_provider")) : null;
  const costTotal = isModelCall ? costOf(obs) : null;

  const record: TraceRecord = {
    platform: "langfuse",
    recordId: id,
    traceId,
    parentId,
    isModelCall,
    name,
    status: level === "ERROR" ? "error" : "success",
    error,
    startTime,
    endTime,
    modelRequested: isModelCall ? model : null,
    modelExecuted: isModelCall ? model : null,
    provider,
    usage,
    usageEstimated: false,
    cacheHit: cacheHit !== null,
    cacheHitSignal: cacheHit,
    // Langfuse infers costs from usage itself, so a zero cost here is no replay evidence.
    replaySignal: null,
    costTotal,
    responseId: isModelCall ? liteLLMResponseId(id) : null,
    attributes,
    tags,
    feature: featureOf(attributes),
    userId: optString(obs, "userId"),
    sessionId: optString(obs, "sessionId"),
    order: startTime,
  };
  // Text only where tokens may have to be estimated from it: a model call that reports none.
  if (isModelCall && usage === null) {
    const text = callText(obs["input"], obs["output"]);
    if (text.text) record.text = text.text;
  }
  // Blob exports keep metadata values as strings; the API returns them parsed: read both alike.
  const structured = structuredMetadata(metadata, isStructuredNoise, true);
  if (structured.structured) record.structured = structured.structured;
  return record;
}

function isStructuredNoise(key: string): boolean {
  return isNoise(key) || key.startsWith("litellm_") || key === "hidden_params";
}

/**
 * True only when the observation can add nothing to a context store, decided from two fields
 * without normalizing it: neither a model call (whose parent learns its first attempt) nor a
 * fallback chain. Whatever else it holds, fromLangfuseObservation either throws on it or gives a
 * node every store ignores (observations never carry a trace context). False means "maybe".
 */
export function addsNoContext(raw: unknown): boolean {
  if (!isObject(raw)) return false;
  const type = raw["type"];
  // The case-insensitive match optEnum does: anything else is another type, or an error.
  if (typeof type !== "string" || MODEL_CALL_TYPES_LOWER.has(type.toLowerCase())) return false;
  const name = raw["name"];
  return !FALLBACK_CHAIN_NAMES.has(typeof name === "string" ? name : "");
}

const MODEL_CALL_TYPES_LOWER: ReadonlySet<string> = new Set([...MODEL_CALL_TYPES].map((t) => t.toLowerCase()));

/** LiteLLM writes its own keys into the generation's metadata; its `input` is inclusive. */
export function isLiteLLM(metadata: Json): boolean {
  for (const k in metadata) {
    if (Object.hasOwn(metadata, k) && (k.startsWith("litellm_") || k === "hidden_params" || k === "cache_hit")) return true;
  }
  return false;
}

/** A trace or observation tag `cache_hit:True` (LiteLLM `langfuse_default_tags`). */
export function hasCacheHitTag(tags: readonly string[]): boolean {
  return tags.some((t) => t.toLowerCase() === "cache_hit:true");
}

function cacheHitSignal(metadata: Json, tags: string[]): string | null {
  const flag = metadata["cache_hit"];
  // The API parses stored metadata strings back ("true" → true); blob files keep the string.
  if (flag === true || (typeof flag === "string" && flag.toLowerCase() === "true")) return "metadata.cache_hit";
  if (hasCacheHitTag(tags)) return "tag cache_hit:True";
  return null;
}

function usageOf(obs: Json, liteLLM: boolean): Usage | null {
  const details = obs["usageDetails"];
  if (details !== undefined && details !== null) {
    if (!isObject(details)) throw new Error("usageDetails: expected an object");
    // The API derives legacy `usage` from usageDetails, so an empty map means no usage at all.
    return usageFromUsageDetails(details, liteLLM);
  }
  return usageFromLegacyUsage(obs["usage"]);
}

function costOf(obs: Json): number | null {
  return (
    optDecimal(at(obs, "costDetails", "total"), "costDetails.total") ??
    optDecimal(obs["calculatedTotalCost"], "calculatedTotalCost") ??
    optDecimal(obs["totalCost"], "totalCost")
  );
}

/** LiteLLM observation ids are `time-HH-MM-SS-ffffff_<provider response id>`. */
function liteLLMResponseId(id: string): string | null {
  if (!id.startsWith("time-")) return null;
  const m = /^time-\d{2}-\d{2}-\d{2}-\d+_(.+)$/.exec(id);
  return m?.[1] ?? null;
}
