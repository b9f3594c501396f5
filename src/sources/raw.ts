/**
 * Hand checks for foreign JSON: read a field, or throw a plain Error whose message is the
 * quarantine reason. Exports are deeply optional and vary by SDK version, so every reader
 * tolerates absence and rejects only wrong types and impossible values.
 */
export type Json = Record<string, unknown>;

/** Read-only stand-in for an absent object: nothing reads into it or hands it on. */
export const NO_FIELDS: Json = Object.freeze({});

/** Token counts above this are not real usage (largest context windows are ~1e7). */
export const MAX_TOKENS = 1e9;

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Safe deep read: `at(run, "outputs", "generations", 0, 0)`; undefined when any step is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let cur = value;
  for (const step of path) {
    if (typeof step === "number") {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[step];
    } else {
      if (!isObject(cur)) return undefined;
      cur = cur[step];
    }
  }
  return cur;
}

export function objectAt(value: unknown, ...path: (string | number)[]): Json | undefined {
  const v = at(value, ...path);
  return isObject(v) ? v : undefined;
}

export function expectObject(value: unknown, what: string): Json {
  if (!isObject(value)) throw new Error(`${what} is not a JSON object`);
  return value;
}

export function requiredId(raw: Json, key: string): string {
  const v = raw[key];
  if (v === undefined || v === null || v === "") throw new Error(`missing ${key}`);
  if (typeof v !== "string") throw new Error(`${key}: expected a string, got ${typeof v}`);
  return v;
}

/** Optional string field: absent/null → null, other types are an error. */
export function optString(raw: Json, key: string, field = key): string | null {
  const v = raw[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new Error(`${field}: expected a string, got ${typeof v}`);
  return v;
}

/** A non-empty string where one is expected, else null (no throw: used for best-effort lookups). */
export function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function firstString(...values: unknown[]): string | null {
  for (const v of values) {
    const s = stringOrNull(v);
    if (s !== null) return s;
  }
  return null;
}

export function stringArray(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((t) => typeof t !== "string")) {
    throw new Error(`${field}: expected an array of strings`);
  }
  return value as string[];
}

/** A token count: absent/null → null; must be a whole number in [0, MAX_TOKENS]. */
export function optTokens(value: unknown, field: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number") throw new Error(`${field}: expected a number, got ${typeof value}`);
  if (!Number.isFinite(value)) throw new Error(`${field}: not a finite number`);
  if (value < 0) throw new Error(`${field}: negative token count ${value}`);
  if (value > MAX_TOKENS) throw new Error(`${field}: implausible token count ${value}`);
  if (!Number.isInteger(value)) throw new Error(`${field}: not a whole number of tokens: ${value}`);
  return value;
}

export function tokens(value: unknown, field: string): number {
  return optTokens(value, field) ?? 0;
}

/**
 * What `tokens` gives for an absent value or a valid count; undefined where it would throw.
 * `quickTokens(v) ?? tokens(v, name)` builds the field name only for the error message.
 */
export function quickTokens(value: unknown): number | undefined {
  if (value === undefined || value === null) return 0;
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_TOKENS ? value : undefined;
}

/** A money amount: number, or decimal string (LangSmith v1, Langfuse v2/blob). */
export function optDecimal(value: unknown, field: string): number | null {
  if (value === undefined || value === null || value === "") return null;
  const n = typeof value === "string" && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`${field}: not a number: ${JSON.stringify(value)}`);
  if (n < 0) throw new Error(`${field}: negative amount ${n}`);
  return n;
}

/** Case-insensitive enum read; returns the canonical spelling from `allowed`. */
export function optEnum<T extends string>(value: unknown, allowed: readonly T[], field: string): T | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new Error(`${field}: expected a string, got ${typeof value}`);
  const hit = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (hit === undefined) throw new Error(`${field}: unknown value ${JSON.stringify(value)}`);
  return hit;
}
