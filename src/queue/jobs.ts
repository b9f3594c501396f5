import type { BillableEvent, Destination, Exclusions, Quarantined } from "../model/index.js";
import type { ResumePoint } from "../sources/registry.js";
import type { DetectOverride } from "../sources/source.js";

/**
 * Queue names and JSON-safe job payloads. Jobs carry whole inputs (ingest) or full destination
 * batches (deliver), never single records: BullMQ handles thousands of jobs/s, parsing ~10^5 records/s.
 */
export const INGEST_QUEUE = "ingest";
export const deliverQueue = (d: Destination): string => `deliver-${d}`;

/** BullMQ key prefix; braces make it a Redis Cluster hash tag so a queue's keys share a slot. */
export const bullPrefix = (prefix: string): string => `{${prefix}}`;

/** Where an ingest job got to: a restarted job resumes here instead of re-reading from the start. */
export interface IngestCheckpoint {
  resume: ResumePoint;
  batchNo: number;
  events: number;
  skipReasons: Record<string, number>;
  quarantined: number;
  quarantine: Quarantined[];
  parked: number;
  /** Per input: records read, quarantined, events. */
  perInput: Record<string, InputSummary>;
  /** What was not billed and why (cache savings, failed calls, unattributed, quarantined). Absent in checkpoints of older workers. */
  exclusions?: Exclusions;
}

export interface InputSummary {
  records: number;
  quarantined: number;
  events: number;
  /** What the reader said about the input (e.g. the cache split is unknown). */
  notes?: string[];
}

export interface IngestJobData {
  syncId: string;
  destination: Destination;
  /** Absolute paths readable by the worker. */
  inputs: string[];
  /** Absolute mapping file or directory. */
  mappingPath: string;
  /** --source / --input-format given to sync. */
  override?: DetectOverride;
  checkpoint?: IngestCheckpoint;
}

export interface DeliverJobData {
  syncId: string;
  /** Batch number within the sync: with the event's index, names each occurrence for settling. */
  batch: number;
  destination: Destination;
  events: BillableEvent[];
}
