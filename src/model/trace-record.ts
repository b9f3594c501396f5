/**
 * The one normalized shape every LangSmith run and Langfuse observation becomes.
 * Everything downstream (mapping, preview, billing) reads only this.
 */
export type Platform = "langsmith" | "langfuse";

export type RecordStatus = "success" | "error" | "pending";

/**
 * Token usage as the model reported it.
 * `input` is INCLUSIVE: it already contains `cacheRead` and `cacheWrite`
 * (LangSmith semantics; Langfuse's exclusive `input` is converted by its normalizer).
 * `output` includes `reasoning`.
 */
export interface Usage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
}

export const ZERO_USAGE: Usage = Object.freeze({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });

export type AttributeValue = string | number | boolean | null;

/** JSON as sent: what a record keeps of metadata that is not a flat scalar. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The text a model call read and wrote, as plain text (message contents joined by newlines). */
export interface CallText {
  input: string | null;
  output: string | null;
}

export interface TraceRecord {
  platform: Platform;
  /** LangSmith run id / Langfuse observation id. */
  recordId: string;
  traceId: string;
  parentId: string | null;
  /** True only for a real model invocation (LangSmith run_type llm, Langfuse GENERATION/EMBEDDING). */
  isModelCall: boolean;
  /** Run / observation name, e.g. ChatOpenAI, RunnableWithFallbacks. */
  name: string;
  status: RecordStatus;
  error: string | null;
  /** ISO-8601 UTC with milliseconds, or null when absent. */
  startTime: string | null;
  endTime: string | null;
  /** Model the application asked for (first attempt of a fallback chain). */
  modelRequested: string | null;
  /** Model that actually served the call. */
  modelExecuted: string | null;
  provider: string | null;
  /** Reported usage; null when the record carries none. */
  usage: Usage | null;
  /** True when the only token counts available were estimated (e.g. LangSmith tiktoken fallback). */
  usageEstimated: boolean;
  /** The call did not run: served from an LLM/semantic cache (explicit flag seen). */
  cacheHit: boolean;
  /** Which signal established `cacheHit` (e.g. "extra.cached", "metadata.cache_hit"), for audit. */
  cacheHitSignal: string | null;
  /**
   * A weaker sign the call was replayed from an LLM cache without an explicit flag, with why:
   * LangChain Python keeps the original usage on a cache hit and sets usage_metadata.total_cost to 0.
   */
  replaySignal: string | null;
  /** Total cost the platform recorded, when present (0 with tokens is a Python LangChain cache-hit signal). */
  costTotal: number | null;
  /** Provider response id (chatcmpl-…, msg_…) when known. */
  responseId: string | null;
  /**
   * Tenant attributes: the record's own metadata first, then its trace root / trace's.
   * Flat; values coerced to scalars (ids sent as numbers are kept as given; mapping coerces).
   */
  attributes: Record<string, AttributeValue>;
  tags: string[];
  /** Feature label when known: the `feature` attribute (own, else inherited from the trace). */
  feature: string | null;
  userId: string | null;
  sessionId: string | null;
  /** Ordering key among siblings: LangSmith dotted_order, Langfuse startTime. */
  order: string | null;
  /**
   * Prompt and completion text, kept only for a model call that reports no usage at all, so a
   * mapping can opt in to estimating its tokens (`estimate_usage`). Absent otherwise.
   */
  text?: CallText | null;
  /**
   * The record's own metadata entries whose values are lists or maps (which `attributes` leaves
   * out), as sent — e.g. batch membership `batch_shares: [{tenant, tokens}]`. Not inherited from
   * the trace. Absent when there are none.
   */
  structured?: Record<string, JsonValue> | null;
}
