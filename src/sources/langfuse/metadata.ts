import { isObject } from "../raw.js";

/**
 * Langfuse stores metadata as a map of strings and JSON-parses every value when its API reads
 * it back (`"10987"` → 10987, `"{...}"` → an object); blob and UI exports keep the strings.
 * Parsing them the same way makes a record read alike from every export. Integers too large
 * for a double stay strings, as the API keeps them.
 */
export function metadataAsApiReturnsIt(metadata: unknown): unknown {
  if (!isObject(metadata)) return metadata;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) out[key] = typeof value === "string" ? parsedValue(value) : value;
  return out;
}

function parsedValue(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value) && /^-?\d+$/.test(text.trim())) return text;
  return value;
}
