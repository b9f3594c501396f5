import { integerText, jsonCell, mapValues, unquoted } from "../formats/cells.js";
import type { DialectSpec } from "../formats/dialect.js";
import type { Json } from "../raw.js";
import { OBSERVATION_TYPES } from "./from-observation.js";
import { metadataAsApiReturnsIt } from "./metadata.js";

/**
 * Langfuse UI batch exports (table → Export: CSV, JSON, JSONL). Rows are the UI's converted
 * records, camelCase like the API. In CSV every cell is text: objects and arrays as compact
 * JSON, numbers as JSON numbers (`1.5e-7`), dates as quoted JSON strings
 * (`"2025-11-20T10:16:05.874Z"`, quotes kept once the CSV quoting is undone), null as nothing.
 * The observations export carries only `traceName, traceTags, traceTimestamp, userId` of its
 * trace: a tenant kept in trace metadata needs the traces export too.
 */

const DATES = ["timestamp", "startTime", "endTime", "createdAt", "updatedAt", "completionStartTime", "traceTimestamp"];
const OBJECTS = ["metadata", "usageDetails", "costDetails", "providedUsageDetails", "providedCostDetails", "modelParameters", "tags", "traceTags"];
const NUMBERS = ["latency", "timeToFirstToken", "inputCost", "outputCost", "totalCost", "inputUsage", "outputUsage", "totalUsage", "inputPrice", "outputPrice", "totalPrice"];
/** Columns of the UI export that the API objects do not have (v2 API items do have `traceName`). */
const UI_ONLY = ["traceTags", "traceTimestamp", "inputUsage", "providedUsageDetails", "comments"];

/** A UI export observation row → the API observation shape. */
export function fromLangfuseUiObservation(row: Json): Json {
  const obs = decoded(row);
  const traceTags = obs["traceTags"];
  return {
    ...obs,
    // What the v2 API calls the observation's tags are its trace's tags, as here.
    tags: obs["tags"] ?? traceTags ?? null,
    usageDetails: mapValues(obs["usageDetails"], integerText),
    metadata: metadataAsApiReturnsIt(obs["metadata"]),
  };
}

/** A UI export trace row → the API trace shape. */
export function fromLangfuseUiTrace(row: Json): Json {
  const trace = decoded(row);
  return { ...trace, metadata: metadataAsApiReturnsIt(trace["metadata"]) };
}

function decoded(row: Json): Json {
  const out: Json = { ...row };
  for (const key of DATES) if (key in out) out[key] = unquoted(out[key]);
  for (const key of NUMBERS) if (key in out) out[key] = unquoted(out[key]);
  for (const key of OBJECTS) if (key in out) out[key] = jsonCell(out[key], key);
  return out;
}

const isUiRow = (r: Json, container: string) => container === "csv" || UI_ONLY.some((k) => k in r);

export const langfuseUiDialects: readonly DialectSpec[] = [
  {
    platform: "langfuse",
    kind: "langfuse-observations",
    dialect: "langfuse-ui-export",
    recognise: (r, container) =>
      isUiRow(r, container) && typeof r["type"] === "string" && OBSERVATION_TYPES.includes(r["type"]) && "traceId" in r,
    translate: fromLangfuseUiObservation,
    fallbackFor: (container) => container === "csv",
  },
  {
    platform: "langfuse",
    kind: "langfuse-traces",
    dialect: "langfuse-ui-export",
    recognise: (r, container) =>
      isUiRow(r, container) && "timestamp" in r && !("type" in r) && !("traceId" in r) &&
      ["userId", "metadata", "tags", "sessionId"].some((k) => k in r),
    translate: fromLangfuseUiTrace,
    fallbackFor: (container) => container === "csv",
  },
];
