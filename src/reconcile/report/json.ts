import type { Report } from "../reconcile.js";

export const REPORT_SCHEMA_VERSION = 1;

/** Machine-readable twin of report.md; `schema_version` changes when fields change meaning. */
export function renderJson(r: Report): string {
  return JSON.stringify({ schema_version: REPORT_SCHEMA_VERSION, ...r }, null, 2) + "\n";
}
