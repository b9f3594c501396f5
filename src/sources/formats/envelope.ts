import type { Json } from "../raw.js";

/**
 * An API response page that wraps the records: `{"runs": [...], "cursors": {...}}`. Exports
 * saved straight from an API are a page per file, or one page per line.
 */
export interface Envelope {
  /** The key holding the records. */
  readonly key: string;
  /** Every other key a page may have; a record never has exactly these. */
  readonly companions: readonly string[];
}

/** The records of a page, or null when the object is not one (a record is not a page). */
export function unwrapEnvelope(value: Json, envelopes: readonly Envelope[]): { key: string; items: unknown[] } | null {
  for (const envelope of envelopes) {
    const items = value[envelope.key];
    if (!Array.isArray(items)) continue;
    if (Object.keys(value).every((k) => k === envelope.key || envelope.companions.includes(k))) {
      return { key: envelope.key, items };
    }
  }
  return null;
}
