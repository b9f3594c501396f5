/**
 * Values written as text by exports that flatten records into cells (CSV, Parquet string
 * columns, ClickHouse JSON): decoded back, or left as they are for the validators to reject.
 */

/** A cell holding JSON text (an object or array column) → its value; non-text passes through. */
export function jsonCell(value: unknown, field: string): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${field}: invalid JSON in the cell (${(e as Error).message})`, { cause: e });
  }
}

/** A JSON string literal written into a cell, quotes included (`"2025-11-20T10:16:05.874Z"`) → the string. */
export function unquoted(value: unknown): unknown {
  if (typeof value !== "string" || value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  try {
    const inner = JSON.parse(value) as unknown;
    return typeof inner === "string" ? inner : value;
  } catch {
    return value;
  }
}

/** A whole number written as text (ClickHouse quotes 64-bit integers in JSON) → a number. */
export function integerText(value: unknown): unknown {
  return typeof value === "string" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
}

/** A map whose values are decoded one by one; anything but an object passes through for the validators. */
export function mapValues(value: unknown, decode: (v: unknown) => unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = decode(v);
  return out;
}
