import type { Platform, Quarantined, TraceRecord } from "../model/index.js";

/** What one input file holds, detected from its content. */
export type InputKind = "langsmith-runs" | "langfuse-observations" | "langfuse-traces";

export interface DetectedInput {
  path: string;
  platform: Platform;
  kind: InputKind;
  /** "json-array" or "jsonl". */
  encoding: "json-array" | "jsonl";
}

/** One item streamed out of the inputs: a normalized record or a quarantine entry. */
export type SourceItem =
  | { kind: "record"; record: TraceRecord; input: string; position: string }
  | { kind: "quarantine"; entry: Quarantined };

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
