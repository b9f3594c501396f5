import type { AttributeValue } from "../model/index.js";

/**
 * Tenant attributes are a flat map of scalars taken from user metadata. Nested objects and
 * arrays are dropped (not tenant keys), nulls too (a child's `tenant_id: null` must not hide the
 * root's). Values stay as sent: an id sent as 10987 stays a number; the mapping coerces.
 */
export function flatScalars(metadata: unknown, isNoise: (key: string) => boolean = () => false): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return out;
  // Object.keys, not entries: no [key, value] pair per key (same keys, same order).
  const source = metadata as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (isNoise(key)) continue;
    const value = source[key];
    if (typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))) {
      out[key] = value;
    }
  }
  return out;
}

export function featureOf(attributes: Record<string, AttributeValue>): string | null {
  const f = attributes["feature"];
  return f === undefined || f === null || f === "" ? null : String(f);
}

/** Own tags then inherited ones, each once, in first-seen order. */
export function unionTags(own: readonly string[], inherited: readonly string[]): string[] {
  // Records carry a handful of tags: a linear scan beats building a Set and two spreads per join.
  if (own.length + inherited.length > 16) return [...new Set([...own, ...inherited])];
  const out: string[] = [];
  for (const t of own) if (!out.includes(t)) out.push(t);
  for (const t of inherited) if (!out.includes(t)) out.push(t);
  return out;
}
