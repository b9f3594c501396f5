import type { Envelope } from "../formats/envelope.js";

/**
 * `POST /runs/query` answers `{"runs": [...], "cursors": {"next": ...}}` (v1, what `listRuns`
 * pages through); `POST /api/v2/runs/query` answers `{"items": [...], "next_cursor": ...}`.
 */
export const LANGSMITH_PAGES: readonly Envelope[] = [
  { key: "runs", companions: ["cursors"] },
  { key: "items", companions: ["next_cursor"] },
];
