import { integerText, jsonCell } from "../formats/cells.js";
import type { DialectSpec } from "../formats/dialect.js";
import { isObject, optTokens, type Json } from "../raw.js";
import { OBSERVATION_TYPES } from "./from-observation.js";
import { metadataAsApiReturnsIt } from "./metadata.js";

/**
 * Langfuse scheduled blob-storage exports: raw ClickHouse rows, snake_case, in
 * `<projectId>/<table>/<window end>.{jsonl,json,csv}[.gz]` or `.parquet`. Timestamps are
 * `YYYY-MM-DD HH:MM:SS.ffffff` UTC (3 or 6 digits), maps are objects (JSON text in CSV, MAP in
 * Parquet), metadata is a string map, 64-bit counts may be quoted, prices are decimal strings.
 * Windows overlap at their inclusive bounds: the same row can be in two files, and is yielded
 * from each (the id makes the billing event, so it bills once).
 */

/** A row of `observations/` (legacy table) or `observations_v2/` (events, enriched with trace fields). */
export function fromLangfuseBlobObservation(row: Json): Json {
  return {
    id: row["id"],
    traceId: row["trace_id"],
    projectId: row["project_id"],
    environment: row["environment"],
    type: row["type"],
    parentObservationId: row["parent_observation_id"],
    name: row["name"],
    level: row["level"],
    statusMessage: row["status_message"],
    version: row["version"],
    startTime: row["start_time"],
    endTime: row["end_time"],
    completionStartTime: row["completion_start_time"],
    model: row["provided_model_name"],
    modelParameters: jsonCell(row["model_parameters"], "model_parameters"),
    metadata: metadataAsApiReturnsIt(metadataOf(row)),
    usageDetails: usageDetailsOf(row),
    costDetails: mapCell(row, "cost_details"),
    totalCost: row["total_cost"],
    // Only observations_v2 has these: the trace's user, session and tags, copied onto the row.
    userId: row["user_id"],
    sessionId: row["session_id"],
    tags: jsonCell(row["tags"], "tags"),
    traceName: row["trace_name"],
  };
}

/** A row of `traces/`. */
export function fromLangfuseBlobTrace(row: Json): Json {
  return {
    id: row["id"],
    timestamp: row["timestamp"],
    name: row["name"],
    userId: row["user_id"],
    sessionId: row["session_id"],
    release: row["release"],
    version: row["version"],
    environment: row["environment"],
    tags: jsonCell(row["tags"], "tags"),
    metadata: metadataAsApiReturnsIt(metadataOf(row)),
    projectId: row["project_id"],
  };
}

/** Counts are validated here too, so a bad one is reported under the export's own column name. */
function usageDetailsOf(row: Json): unknown {
  const usage = mapCell(row, "usage_details");
  if (!isObject(usage)) return usage;
  const out: Json = {};
  for (const [key, value] of Object.entries(usage)) out[key] = optTokens(integerText(value), `usage_details.${key}`);
  return out;
}

function mapCell(row: Json, key: string): unknown {
  const value = jsonCell(row[key], key);
  if (value !== null && value !== undefined && !isObject(value)) throw new Error(`${key}: expected a map`);
  return value;
}

/** A string map; some exports of the events table split it into parallel name/value arrays. */
function metadataOf(row: Json): unknown {
  const names = row["metadata_names"];
  const values = row["metadata_values"];
  if (Array.isArray(names) && Array.isArray(values)) {
    return Object.fromEntries(names.map((n, i) => [String(n), values[i] ?? null]));
  }
  return mapCell(row, "metadata");
}

const SCORES_NOTE = "Langfuse scores are evaluations, not model usage: not billable, skipped";

export const langfuseBlobDialects: readonly DialectSpec[] = [
  {
    platform: "langfuse",
    kind: "langfuse-scores",
    dialect: "langfuse-blob-export",
    recognise: (r) => "trace_id" in r && !("type" in r) && ("data_type" in r || "string_value" in r || ("value" in r && "source" in r)),
    inputNotes: [SCORES_NOTE],
  },
  {
    platform: "langfuse",
    kind: "langfuse-observations",
    dialect: "langfuse-blob-export",
    recognise: (r) =>
      "trace_id" in r && "start_time" in r && typeof r["type"] === "string" &&
      (OBSERVATION_TYPES.includes(r["type"].toUpperCase()) || ["usage_details", "provided_model_name", "parent_observation_id"].some((k) => k in r)),
    translate: fromLangfuseBlobObservation,
    unread: ["input", "output", "tool_definitions", "tool_calls", "tool_call_names"],
  },
  {
    platform: "langfuse",
    kind: "langfuse-traces",
    dialect: "langfuse-blob-export",
    recognise: (r) =>
      "timestamp" in r && !("type" in r) && !("trace_id" in r) && !("traceId" in r) &&
      ["user_id", "session_id", "project_id", "created_at"].some((k) => k in r),
    translate: fromLangfuseBlobTrace,
    unread: ["input", "output"],
  },
];

export { SCORES_NOTE };
