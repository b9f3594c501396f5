import type { AttributeValue } from "../model/index.js";

/**
 * Tenant attributes are a flat map of scalars taken from user metadata. Nested objects and
 * arrays are dropped (not tenant keys), nulls too (a child's `tenant_id: null` must not hide the
 * root's). Values stay as sent: an id sent as 10987 stays a number; the mapping coerces.
 */
export function flatScalars(metadata: unknown, isNoise: (key: string) => boolean = () => false): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return out;
  for (const [key, value] of Object.entries(metadata)) {
    if (isNoise(key)) continue;
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

export function unionTags(own: readonly string[], inherited: readonly string[]): string[] {
  return [...new Set([...own, ...inherited])];
}
