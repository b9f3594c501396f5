import type { Report } from "../reconcile.js";

export const CSV_COLUMNS = ["customer", "metric", "model", "sent", "sent_events", "held", "held_events", "difference", "status"] as const;

/** RFC 4180: quote a field that holds a comma, a double quote, CR or LF; double any quote inside. */
export function csvField(v: string | number | null): string {
  const s = v === null ? "" : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One table, one row per customer × metric × model, header first, CRLF line ends (RFC 4180).
 * Numbers are written raw (no thousands separators) so spreadsheets and scripts read them as numbers;
 * `held_events` is empty when the destination cannot count events.
 */
export function renderCsv(r: Report): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const x of r.rows) {
    lines.push([x.customer, x.metric, x.model, x.sent, x.sentEvents, x.held, x.heldEvents, x.difference, x.status].map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
