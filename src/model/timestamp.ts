/** Days per month outside leap years. */
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` naming a real instant, year 1000 or later (Date.UTC reads years
 * 0–99 as 1900–1999, which toIsoUtc's slow path keeps doing): exactly the strings toIsoUtc
 * returns unchanged, and whose trip through Date gives them back — so their first ten
 * characters are their UTC day.
 */
export function isCanonicalUtc(v: string): boolean {
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
