/**
 * Test-only converters: the JSONL reference fixtures rewritten in the other containers an
 * export can come in (JSON array, API pages, gzip, Parquet), so each twin can be checked to bill
 * exactly like its reference. The dialect fixtures (UI CSV, blob rows) are hand-checked files.
 */
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { parquetWriteBuffer } from "hyparquet-writer";
import { tempFile } from "./helpers.js";

type Row = Record<string, unknown>;

/** Lines of a JSONL file: parsed objects, or the raw text of a line that is not one. */
export async function jsonlLines(path: string): Promise<(Row | string)[]> {
  const text = await readFile(path, "utf8");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Row) : l;
    } catch {
      return l;
    }
  });
}

const objects = (lines: (Row | string)[]) => lines.filter((l): l is Row => typeof l !== "string");

/** A JSON array of the file's records (lines that are not objects cannot be elements: dropped). */
export async function asJsonArray(path: string, name = "records.json"): Promise<string> {
  return tempFile(name, JSON.stringify(objects(await jsonlLines(path))));
}

/**
 * JSONL of API pages, `perPage` records each (`{"runs": [...], "cursors": {...}}`): a line that is
 * not a record stays a line of its own, as a cut-off page would.
 */
export async function asPagesJsonl(path: string, page: (items: Row[], n: number) => Row, perPage = 5, name = "pages.jsonl"): Promise<string> {
  const out: string[] = [];
  let items: Row[] = [];
  const flush = () => {
    if (items.length) out.push(JSON.stringify(page(items, out.length)));
    items = [];
  };
  for (const line of await jsonlLines(path)) {
    if (typeof line === "string") {
      flush();
      out.push(line);
      continue;
    }
    items.push(line);
    if (items.length === perPage) flush();
  }
  flush();
  return tempFile(name, out.join("\n") + "\n");
}

/** One pretty-printed API page holding every record. */
export async function asPageDocument(records: Row[], page: (items: Row[]) => Row, name = "page.json"): Promise<string> {
  return tempFile(name, JSON.stringify(page(records), null, 2) + "\n");
}

export const runsPage = (runs: Row[], n = 0): Row => ({ runs, cursors: { next: n < 3 ? `cursor-${n + 1}` : null } });
export const itemsPage = (items: Row[]): Row => ({ items, next_cursor: null });
export const dataPage = (data: Row[], n = 0): Row => ({ data, meta: { page: n + 1, limit: 50, totalItems: data.length, totalPages: 1 } });

/** The same bytes, gzip-compressed, under any name (detection must go by the magic bytes). */
export async function gzipped(path: string, name: string): Promise<string> {
  return tempFile(name, gzipSync(await readFile(path)));
}

export interface ParquetColumn {
  name: string;
  /** Parquet schema element(s) for the column: one for a primitive, more for a LIST or MAP. */
  schema: Row[];
  value: (row: Row) => unknown;
}

/** Rows → a Parquet file with the given columns, small row groups (several per file), any codec. */
export async function asParquet(rows: Row[], columns: ParquetColumn[], opts: { name?: string; rowGroupSize?: number; codec?: "SNAPPY" | "GZIP" | "UNCOMPRESSED" } = {}): Promise<string> {
  const schema = [{ name: "root", num_children: columns.length }, ...columns.flatMap((c) => c.schema)];
  const columnData = columns.map((c) => ({ name: c.name, data: rows.map(c.value) }));
  const codec = opts.codec ?? "SNAPPY";
  const buffer = parquetWriteBuffer({
    columnData,
    schema: schema as never,
    rowGroupSize: opts.rowGroupSize ?? 7,
    codec,
    ...(codec === "GZIP" ? { compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) } } : {}),
  });
  return tempFile(opts.name ?? "export.parquet", Buffer.from(buffer));
}

export const pq = {
  string: (name: string, value: (r: Row) => unknown): ParquetColumn => ({
    name, value, schema: [{ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" }],
  }),
  /** A JSON column written as text, as the LangSmith bulk export does. */
  json: (name: string, value: (r: Row) => unknown = (r) => r[name]): ParquetColumn =>
    pq.string(name, (r) => {
      const v = value(r);
      return v === undefined || v === null ? null : JSON.stringify(v);
    }),
  int64: (name: string, value: (r: Row) => unknown = (r) => r[name]): ParquetColumn => ({
    name, schema: [{ name, type: "INT64", repetition_type: "OPTIONAL" }],
    value: (r) => {
      const v = value(r);
      return typeof v === "number" && Number.isInteger(v) ? BigInt(v) : null;
    },
  }),
  double: (name: string, value: (r: Row) => unknown = (r) => r[name]): ParquetColumn => ({
    name, schema: [{ name, type: "DOUBLE", repetition_type: "OPTIONAL" }],
    value: (r) => {
      const v = value(r);
      return v === null || v === undefined ? null : Number(v);
    },
  }),
  boolean: (name: string, value: (r: Row) => unknown): ParquetColumn => ({
    name, value, schema: [{ name, type: "BOOLEAN", repetition_type: "OPTIONAL" }],
  }),
  /** Microsecond timestamps, UTC (what warehouses and ClickHouse write). */
  timestamp: (name: string, value: (r: Row) => unknown = (r) => r[name]): ParquetColumn => ({
    name, schema: [{ name, type: "INT64", repetition_type: "OPTIONAL", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" } }],
    value: (r) => {
      const v = value(r);
      if (typeof v !== "string" || v === "") return null;
      const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(" ", "T")}Z`;
      return BigInt(Date.parse(iso)) * 1000n + BigInt(Number(/\.\d{3}(\d{3})/.exec(v)?.[1] ?? 0));
    },
  }),
  stringList: (name: string, value: (r: Row) => unknown = (r) => r[name]): ParquetColumn => ({
    name,
    value: (r) => value(r) ?? null,
    schema: [
      { name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
    ],
  }),
  /** A ClickHouse Map column: string keys, values of one type. */
  map: (name: string, valueType: "STRING" | "INT64" | "DOUBLE", value: (r: Row) => unknown = (r) => r[name]): ParquetColumn => ({
    name,
    value: (r) => {
      const v = value(r) as Row | null | undefined;
      if (!v) return null;
      const conv = (x: unknown) => (valueType === "INT64" ? BigInt(Number(x)) : valueType === "DOUBLE" ? Number(x) : typeof x === "string" ? x : JSON.stringify(x));
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === null ? null : conv(x)]));
    },
    schema: [
      { name, repetition_type: "OPTIONAL", converted_type: "MAP", num_children: 1 },
      { name: "key_value", repetition_type: "REPEATED", num_children: 2 },
      { name: "key", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
      valueType === "STRING"
        ? { name: "value", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" }
        : { name: "value", type: valueType, repetition_type: "OPTIONAL" },
    ],
  }),
};

/** The columns of the LangSmith bulk export (docs data-export.mdx), JSON payloads as text. */
export const LANGSMITH_BULK_COLUMNS: ParquetColumn[] = [
  pq.string("id", (r) => r["id"] ?? null),
  pq.string("tenant_id", () => "4e1d7a9b-0c52-4a8e-b1f3-7d2c9e6a5b18"),
  pq.string("session_id", (r) => r["session_id"] ?? r["project_id"] ?? null),
  pq.string("trace_id", (r) => r["trace_id"] ?? null),
  pq.string("parent_run_id", (r) => r["parent_run_id"] ?? null),
  pq.stringList("parent_run_ids"),
  pq.string("reference_example_id", (r) => r["reference_example_id"] ?? null),
  pq.string("name", (r) => r["name"] ?? null),
  pq.string("run_type", (r) => r["run_type"] ?? null),
  pq.timestamp("start_time"),
  pq.timestamp("end_time"),
  pq.string("status", (r) => r["status"] ?? null),
  pq.boolean("is_root", (r) => r["parent_run_id"] === null || r["parent_run_id"] === undefined),
  pq.string("dotted_order", (r) => r["dotted_order"] ?? null),
  pq.string("trace_tier", () => "longlived"),
  pq.json("inputs"),
  pq.json("outputs"),
  pq.string("error", (r) => r["error"] ?? null),
  pq.json("extra"),
  pq.json("events"),
  pq.stringList("tags"),
  pq.json("feedback_stats"),
  pq.int64("total_tokens"),
  pq.int64("prompt_tokens"),
  pq.int64("completion_tokens"),
  pq.double("total_cost"),
  pq.double("prompt_cost"),
  pq.double("completion_cost"),
  pq.timestamp("first_token_time"),
];

/** A Langfuse blob-export observation table as ClickHouse writes Parquet: maps as MAP, times as TIMESTAMP. */
export const LANGFUSE_BLOB_OBSERVATION_COLUMNS: ParquetColumn[] = [
  ...["id", "trace_id", "project_id", "environment", "type", "parent_observation_id"].map((n) => pq.string(n, (r) => r[n] ?? null)),
  pq.timestamp("start_time"),
  pq.timestamp("end_time"),
  pq.string("name", (r) => r["name"] ?? null),
  pq.map("metadata", "STRING"),
  ...["level", "status_message", "version", "input", "output", "provided_model_name", "model_parameters"].map((n) => pq.string(n, (r) => r[n] ?? null)),
  pq.map("usage_details", "INT64"),
  pq.map("cost_details", "DOUBLE"),
  pq.timestamp("completion_start_time"),
  pq.double("total_cost"),
  pq.double("latency"),
];

export const LANGFUSE_BLOB_TRACE_COLUMNS: ParquetColumn[] = [
  pq.string("id", (r) => r["id"] ?? null),
  pq.timestamp("timestamp"),
  ...["name", "environment", "user_id", "session_id", "release", "version"].map((n) => pq.string(n, (r) => r[n] ?? null)),
  pq.map("metadata", "STRING"),
  pq.stringList("tags"),
  pq.string("project_id", (r) => r["project_id"] ?? null),
];
