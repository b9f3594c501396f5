import { UserError } from "../model/index.js";
import { secretForms } from "../runtime/logger.js";

const MASK = "[redacted]";

/**
 * Removes every form in which a secret could reach a message: raw, JSON-escaped (as in error
 * bodies) and URI-encoded (as in URLs). Applied to every outcome reason and thrown message a
 * sink produces, so even an error text we did not foresee cannot carry the API key.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of secretForms(s)) out = out.split(form).join(MASK);
  }
  return out;
}

/**
 * Refuses keys fetch would choke on. Node's own error for a bad header value quotes the whole
 * header, key included, so such a key must never reach fetch.
 */
export function assertUsableApiKey(what: string, key: string): void {
  if (!key) throw new UserError(`${what} is empty`);
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new UserError(`${what} contains characters that cannot be sent in an HTTP header (spaces, control or non-ASCII characters); check for a stray newline or quote`);
  }
}

/**
 * Parses an http(s) base URL and refuses embedded credentials (fetch would refuse them too,
 * quoting the URL — and the credentials — in its error).
 */
export function parseBaseUrl(what: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UserError(`${what} is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UserError(`${what} must be an http(s) URL (got ${url.protocol})`);
  if (url.username || url.password) throw new UserError(`${what} must not contain credentials; pass the API key separately`);
  url.search = "";
  url.hash = "";
  return url;
}

/** `limit` characters of `text`, marking the cut. Vendor bodies can be large HTML pages. */
export function clip(text: string, limit = 300): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}…`;
}

/** Milliseconds to wait from a Retry-After value (delta-seconds or HTTP-date). */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Reads a header from a fetch Headers object or a plain record, case-insensitively. */
export function headerOf(headers: Headers | Record<string, string> | null | undefined, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name);
  const k = Object.keys(headers).find((h) => h.toLowerCase() === name.toLowerCase());
  return k ? ((headers as Record<string, string>)[k] ?? null) : null;
}

/** "fetch failed (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1)" from fetch's TypeError and its cause. */
export function describeNetworkError(e: Error): string {
  const cause = (e as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return `${e.message} (${typeof code === "string" ? `${code}: ` : ""}${cause.message})`;
  }
  return e.message;
}

/** Abort or timeout from an AbortSignal, whatever class the runtime used to raise it. */
export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError");
}
