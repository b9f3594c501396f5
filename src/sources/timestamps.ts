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
  if (isCanonical(value)) return value;
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

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` naming a real instant, year 1000 or later (Date.UTC reads years
 * 0–99 as 1900–1999, which the slow path keeps doing): exactly the strings the slow path returns unchanged.
 */
function isCanonical(v: string): boolean {
  if (v.length !== 24 || v.charCodeAt(23) !== 90 /* Z */) return false;
  for (let i = 0; i < DIGITS.length; i++) if (!isDigit(v.charCodeAt(DIGITS[i]!))) return false;
  if (v[4] !== "-" || v[7] !== "-" || v[10] !== "T" || v[13] !== ":" || v[16] !== ":" || v[19] !== ".") return false;
  const year = digitsAt(v, 0) * 100 + digitsAt(v, 2);
  const month = digitsAt(v, 5);
  const day = digitsAt(v, 8);
  if (year < 1000 || month < 1 || month > 12 || day < 1) return false;
  const leap = month === 2 && (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0));
  if (day > DAYS[month - 1]! + (leap ? 1 : 0)) return false;
  return digitsAt(v, 11) <= 23 && digitsAt(v, 14) <= 59 && digitsAt(v, 17) <= 59;
}

/** Where `YYYY-MM-DDTHH:MM:SS.sssZ` has its digits (hoisted: this runs for every timestamp read). */
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The two-digit number at i (both already checked to be digits). */
function digitsAt(v: string, i: number): number {
  return (v.charCodeAt(i) - 48) * 10 + (v.charCodeAt(i + 1) - 48);
}
