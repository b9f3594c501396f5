import type { AttributeValue, Platform, Quarantined, TraceRecord } from "../model/index.js";

/** What one input file holds, detected from its content. Scores are recognised so they can be skipped, never billed. */
export type InputKind = "langsmith-runs" | "langfuse-observations" | "langfuse-traces" | "langfuse-scores";

/**
 * How records are laid out in a file. `json-document` is one JSON object: an API response page
 * (`{"runs": [...]}`, `{"items": [...]}`, `{"data": [...]}`) or a single record.
 */
export type Container = "json-array" | "jsonl" | "json-document" | "csv" | "parquet";

/**
 * Which export wrote the records, when that changes their shape: `api` = the platforms' API
 * objects (SDK dumps, API pages); the others are translated to that shape while reading
 * (snake_case ClickHouse rows, JSON text in CSV cells or Parquet columns, UI export columns).
 */
export type Dialect = "api" | "langsmith-bulk-export" | "langfuse-ui-export" | "langfuse-blob-export";

export interface DetectedInput {
  path: string;
  platform: Platform;
  kind: InputKind;
  container: Container;
  /** From the magic bytes, never the file name. */
  compression: "gzip" | null;
  dialect: Dialect;
  /** What the user should be told about this input as a whole (e.g. that it is not billable). */
  notes?: string[];
}

/** Forces what content detection would otherwise decide (`--source`, `--format`). */
export interface DetectOverride {
  platform?: Platform;
  kind?: InputKind;
  container?: Container;
}

/** One item streamed out of the inputs: a normalized record or a quarantine entry. */
export type SourceItem =
  | {
      kind: "record";
      record: TraceRecord;
      /** Whether the record's trace context (LangSmith root run, Langfuse trace) was known. */
      contextFound: boolean;
      input: string;
      position: string;
      /** Input and raw-item indexes, for checkpoints: items come in this order. */
      inputIndex: number;
      itemIndex: number;
      /** What the export could not say about this record (e.g. an unknown cache split); from the raw item. */
      notes?: string[];
    }
  | { kind: "quarantine"; entry: Quarantined; inputIndex: number; itemIndex: number }
  /** Something the reader must tell about an input (e.g. the cache split is unknown), once per input. */
  | { kind: "note"; input: string; note: string; inputIndex: number; itemIndex: number };

/**
 * The contract of a platform source. `read` streams every input (never holding a whole file),
 * joins records to their trace context (tenant on the root / trace, fallback chains) and yields
 * normalized records; malformed input yields quarantine entries, never a throw.
 * An input that is not recognisable at all is a UserError naming the file.
 */
export interface TraceSource {
  readonly platform: Platform;
  read(inputs: DetectedInput[]): AsyncIterable<SourceItem>;
}

/**
 * What a trace says about all its records: the tenant context of a LangSmith root run or a
 * Langfuse trace. Records inherit it by trace id (child runs often lack the root's metadata).
 */
export interface TraceContext {
  traceId: string;
  attributes: Record<string, AttributeValue>;
  tags: string[];
  userId: string | null;
  sessionId: string | null;
  name: string | null;
}

/** What one raw record contributes to the context index in the first pass. */
export interface ContextFacts {
  /** Set when the record is (or describes) a trace root. */
  trace?: TraceContext;
  /** The record itself, when it is a node of the trace tree (fallback chains and their attempts). */
  node?: TraceRecord;
}

/** What a record that adds nothing to the context index contributes (shared, read-only). */
export const NO_FACTS: ContextFacts = Object.freeze({});

/**
 * One kind of input (e.g. LangSmith runs), registered by kind in registry.ts. The platform
 * folders implement it; the join itself is generic (context.ts).
 */
export interface InputFormat {
  readonly platform: Platform;
  readonly kind: InputKind;
  /** Does this first record look like this kind? Formats are tried in registry order. */
  recognise(first: Record<string, unknown>): boolean;
  /** Pass 1: the record's contribution to the context index. Throws a plain Error when malformed. */
  context(raw: unknown): ContextFacts;
  /** Pass 2: the normalized record. Absent for context-only kinds (Langfuse traces). */
  normalize?(raw: unknown): TraceRecord;
  /** Platform rules that need the joined record (e.g. a trace tag marking a cache hit). */
  refine?(record: TraceRecord): TraceRecord;
}
