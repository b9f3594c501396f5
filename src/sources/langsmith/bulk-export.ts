import { integerText, jsonCell } from "../formats/cells.js";
import type { DialectSpec } from "../formats/dialect.js";
import { at, isObject, type Json } from "../raw.js";

/**
 * LangSmith bulk data export (Plus/Enterprise): Parquet files, zstd by default, under
 * `export_id=/tenant_id=/session_id=/runs/year=/month=/day=`. The run fields are columns;
 * `inputs`, `outputs`, `extra`, `events`, `feedback_stats` are JSON text. `tenant_id` there is
 * the LangSmith workspace, never a billing tenant. There is no `prompt_token_details` column.
 */

const JSON_COLUMNS = ["inputs", "outputs", "extra", "events", "feedback_stats", "tags", "parent_run_ids"];
const COUNT_COLUMNS = ["prompt_tokens", "completion_tokens", "total_tokens"];
/** Columns only the bulk export has. */
const BULK_ONLY = ["tenant_id", "is_root", "trace_tier"];

/** A bulk-export row → the run shape of `listRuns`. */
export function fromLangSmithBulkExportRun(row: Json): Json {
  const run: Json = { ...row };
  for (const key of JSON_COLUMNS) if (key in run) run[key] = jsonCell(run[key], key);
  for (const key of COUNT_COLUMNS) if (key in run) run[key] = integerText(run[key]);
  return run;
}

const NO_USAGE_METADATA =
  "no usage_metadata in extra/outputs: only LangSmith's own token counts, and the bulk export has no " +
  "prompt_token_details, so the cache split is unknown (usage counted as estimated)";
const NO_DETAILS =
  "usage_metadata has no input_token_details and the bulk export has no prompt_token_details: " +
  "the cache split is unknown (no cache reads subtracted)";

/** Where the export cannot say how much of a model call's input came from a prompt cache. */
export function cacheSplitNotes(run: Json): string[] | undefined {
  if (typeof run["run_type"] !== "string" || !["llm", "embedding"].includes(run["run_type"].toLowerCase())) return undefined;
  const message = at(run, "outputs", "generations", 0, 0, "message");
  const um = [
    at(run, "extra", "metadata", "usage_metadata"),
    at(run, "outputs", "usage_metadata"),
    at(message, "kwargs", "usage_metadata"),
    at(message, "usage_metadata"),
  ].find(isObject);
  if (!um) return run["prompt_tokens"] === undefined || run["prompt_tokens"] === null ? undefined : [NO_USAGE_METADATA];
  return isObject(um["input_token_details"]) ? undefined : [NO_DETAILS];
}

export const langSmithBulkDialects: readonly DialectSpec[] = [
  {
    platform: "langsmith",
    kind: "langsmith-runs",
    dialect: "langsmith-bulk-export",
    recognise: (r, container) =>
      ("run_type" in r || "dotted_order" in r) &&
      // CSV cells are text whoever wrote them: the bulk translation is the one that decodes text.
      (container === "parquet" || container === "csv" || BULK_ONLY.some((k) => k in r) || typeof r["extra"] === "string"),
    translate: fromLangSmithBulkExportRun,
    notes: cacheSplitNotes,
    unread: ["events", "feedback_stats"],
    inputNotes: [
      "LangSmith bulk export: no prompt_token_details column, so cache reads come only from usage_metadata in extra/outputs",
    ],
    fallbackFor: (container) => container === "parquet" || container === "csv",
  },
];
