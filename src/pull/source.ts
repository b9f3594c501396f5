import type { Platform } from "../model/index.js";

/**
 * The contract of pull mode: a platform project read window by window from its API. The items
 * are the API's JSON objects, unchanged, so the export formats in sources/registry.ts normalize
 * them exactly as they normalize files.
 */

/** [from, to) in epoch milliseconds, on the platform's start time (run start_time, observation startTime, trace timestamp). */
export interface TimeWindow {
  from: number;
  to: number;
}

/** Which export format an item belongs to: "run" → langsmith-runs, "observation" / "trace" → langfuse-observations / -traces. */
export type PulledKind = "trace" | "observation" | "run";

export interface PulledItem {
  kind: PulledKind;
  /** The API's JSON object as received. */
  raw: unknown;
  /**
   * Read from outside the window only so the window's records can be joined to their trace
   * (a Langfuse trace, or a LangSmith root run, that started in an earlier window). Its own
   * window already handed it off: never bill it here.
   */
  context?: boolean;
}

/** One platform project as a pull reads it. */
export interface PullSource {
  readonly platform: Platform;
  /** Stable id of the project (Langfuse project id, LangSmith session id); names the watermark. */
  project(): Promise<string>;
  /**
   * Every item that starts in the window, in API pages, each item once; then the context items
   * the window's records need. Throws (PullApiError) when the API fails for good.
   */
  read(window: TimeWindow): AsyncIterable<PulledItem[]>;
  /**
   * Optional: the id of an item the platform has not finished yet (a LangSmith run still
   * `pending`, no end time): it bills nothing now, so the pull reads it again later by id.
   */
  unfinishedId?(item: PulledItem): string | undefined;
  /** With `unfinishedId`: the items again by id, then the context items they need. */
  revisit?(ids: string[]): AsyncIterable<PulledItem[]>;
}

/** Where a pull stream's watermark lives: one per (platform, project). */
export interface StreamKey {
  platform: Platform;
  project: string;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
