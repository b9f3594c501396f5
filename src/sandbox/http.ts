import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";

/** What a route handler answers; the server writes it (or replaces it when a fault says so). */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialised unless `raw` is set; omitted for 204. */
  body?: unknown;
  raw?: string;
  contentType?: string;
}

export interface ApiRequest {
  method: string;
  /** Path below the destination's root, e.g. "/events/batch". */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}



export function writeReply(res: ServerResponse, r: Reply): void {
  const headers: Record<string, string> = { ...r.headers };
  let payload: string | undefined;
  if (r.raw !== undefined) {
    payload = r.raw;
    headers["Content-Type"] = r.contentType ?? "text/plain";
  } else if (r.body !== undefined && r.status !== 204) {
    payload = JSON.stringify(r.body);
    headers["Content-Type"] = r.contentType ?? "application/json; charset=utf-8";
  }
  if (payload !== undefined) headers["Content-Length"] = String(Buffer.byteLength(payload));
  res.writeHead(r.status, headers);
  res.end(payload);
}

export const statusText = (status: number): string => STATUS_CODES[status] ?? "Unknown";

/** The second space-separated token of Authorization, as Lago's base controller reads it. */
export function bearerToken(headers: IncomingMessage["headers"]): string | undefined {
  const h = headers.authorization;
  return typeof h === "string" ? h.split(" ")[1] : undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** RFC 3339 date-time (the subset the vendors' validators accept). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseRfc3339(v: unknown): Date | null {
  if (typeof v !== "string" || !RFC3339.test(v)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** ISO-8601 at second precision, as OpenMeter renders stored times. */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
