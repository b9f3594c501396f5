import { flatScalars } from "../attributes.js";
import { expectObject, optString, requiredId, stringArray } from "../raw.js";
import type { TraceContext } from "../source.js";
import { toIsoUtc } from "../timestamps.js";

/**
 * A Langfuse trace (public API v1 item, UI export) → the context its observations inherit:
 * tenant metadata, userId, sessionId, tags. Metadata numbers stay numbers (the API parses
 * "10987" back to 10987).
 */
export function fromLangfuseTrace(raw: unknown): TraceContext {
  const trace = expectObject(raw, "trace");
  const traceId = requiredId(trace, "id");
  // Not used for the join, but a broken timestamp means a broken record.
  toIsoUtc(trace["timestamp"], "timestamp");
  return {
    traceId,
    attributes: flatScalars(trace["metadata"], (k) => k.startsWith("langfuse_")),
    tags: stringArray(trace["tags"], "tags"),
    userId: optString(trace, "userId"),
    sessionId: optString(trace, "sessionId"),
    name: optString(trace, "name"),
  };
}
