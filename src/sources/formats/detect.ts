import { UserError } from "../../model/index.js";
import { readHead } from "../read-bytes.js";
import { readParquet } from "../read-parquet.js";
import { readContainer, type RawItem } from "../read-raw.js";
import type { Container, DetectedInput, DetectOverride } from "../source.js";
import { sniffContainer } from "./container.js";
import type { DialectSpec } from "./dialect.js";
import { DIALECTS } from "./dialects.js";

export const EXPECTED =
  "expected LangSmith runs (JSON array, JSONL, /runs/query pages, bulk-export Parquet) or Langfuse " +
  "observations, traces or scores (API JSON/JSONL, UI export JSON/JSONL/CSV, blob-storage export " +
  "JSONL/JSON/CSV/Parquet), plain or gzip-compressed";

/** A malformed first record should not hide a good export: look a few records further. */
const LOOKAHEAD = 10;

/** Parquet columns detection never needs: reading them for ten rows would decode a whole row group of payloads. */
const HEAVY_COLUMNS = new Set(["inputs", "outputs", "input", "output", "extra", "events", "metadata", "feedback_stats", "tool_definitions", "tool_calls", "model_parameters", "comment"]);

/**
 * Platform, kind, container, compression and dialect of one file, from its content: magic
 * bytes, then the first records (the rest is not read). `override` forces any of them.
 * An unreadable or unrecognisable file is a UserError naming it.
 */
export async function detect(path: string, override: DetectOverride = {}): Promise<DetectedInput> {
  const { compression, head } = await readHead(path).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`${path}: cannot read the file (${e.code ?? e.message})`);
  });
  const sniffed = override.container ?? sniffContainer(head);
  if (typeof sniffed !== "string") {
    throw new UserError(
      sniffed.found === null
        ? `${path}: the file is empty; ${EXPECTED}`
        : `${path}: not JSON, JSONL, CSV or Parquet (starts with ${JSON.stringify(sniffed.found)}); ${EXPECTED}`,
    );
  }
  const container: Container = sniffed;
  if (container === "parquet" && compression === "gzip") {
    throw new UserError(`${path}: a gzip-compressed Parquet file; Parquet compresses inside, decompress the file first`);
  }
  const candidates = DIALECTS.filter(
    (d) => (!override.platform || d.platform === override.platform) && (!override.kind || d.kind === override.kind),
  );
  // Every dialect is weighed against all the first records, in priority order: a malformed
  // first record can look like a looser dialect (a Langfuse blob row with an unknown type has
  // the trace_id and project_id of a LangSmith run).
  const rows: Record<string, unknown>[] = [];
  let seen = 0;
  let firstFailure: string | null = null;
  for await (const item of firstRecords(path, container, compression)) {
    if (item.ok) rows.push(item.value);
    else firstFailure ??= `${item.position}: ${item.reason}`;
    if (++seen >= LOOKAHEAD) break;
  }
  const spec = candidates.find((d) => rows.some((row) => d.recognise(row, container)));
  if (spec) return detected(path, container, compression, spec);
  const forced = override.kind ? candidates.find((d) => d.fallbackFor?.(container)) : undefined;
  if (forced) return detected(path, container, compression, forced);
  if (seen === 0) throw new UserError(`${path}: no records in the file; ${EXPECTED}`);
  const firstKeys = rows[0] ? Object.keys(rows[0]).slice(0, 12) : null;
  const what = firstKeys
    ? `the first record has keys ${firstKeys.join(", ")}`
    : `no readable record in the first ${seen}; ${firstFailure ?? "none"}`;
  throw new UserError(`${path}: not a recognised trace export (${what}); ${EXPECTED}`);
}

function firstRecords(path: string, container: Container, compression: DetectedInput["compression"]): AsyncGenerator<RawItem> {
  if (container !== "parquet") return readContainer(path, container, compression);
  return readParquet(path, { limit: LOOKAHEAD, columns: (names) => names.filter((n) => !HEAVY_COLUMNS.has(n)) });
}

function detected(path: string, container: Container, compression: DetectedInput["compression"], spec: DialectSpec): DetectedInput {
  const input: DetectedInput = { path, platform: spec.platform, kind: spec.kind, container, compression, dialect: spec.dialect };
  if (spec.inputNotes?.length) input.notes = [...spec.inputNotes];
  return input;
}
