import { isCanonicalUtc } from "../model/index.js";

/**
 * Timestamps as the platforms write them, to ISO-8601 UTC with milliseconds.
 * LangSmith v1 REST writes naive `2024-04-29T00:49:12.090000` (UTC by convention); the JS client
 * appends `Z`, Python `+00:00`; Langfuse blob files use a space and microseconds. A naive string
 * must not reach `new Date()`, which would read it as local time.
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

export function toIsoUtc(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") throw new Error(`${field}: expected a timestamp string, got ${typeof value}`);
  // Fast path: already ISO-8601 UTC with milliseconds (JS SDKs, the Langfuse API) and a real date.
  if (isCanonicalUtc(value)) return value;
  const m = ISO.exec(value.trim());
  if (!m) throw new Error(`${field}: not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
  const [, y, mo, d, h, mi, s = "0", frac = "", zone = "Z"] = m;
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const date = new Date(t);
  // Date.UTC silently rolls 2024-02-31 over to March; a real export never contains that.
  if (date.getUTCDate() !== Number(d) || date.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(s) > 59) {
    throw new Error(`${field}: not a valid date: ${JSON.stringify(value)}`);
  }
  if (zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0")) * 60_000;
  }
  return new Date(t).toISOString();
}
