import type { BillableEvent, Destination } from "../model/index.js";

/**
 * Queue names and JSON-safe job payloads. Jobs carry whole inputs (ingest) or full destination
 * batches (deliver), never single records: BullMQ handles thousands of jobs/s, parsing ~10^5 records/s.
 */
export const INGEST_QUEUE = "ingest";
export const deliverQueue = (d: Destination): string => `deliver-${d}`;

/** BullMQ key prefix; braces make it a Redis Cluster hash tag so a queue's keys share a slot. */
export const bullPrefix = (prefix: string): string => `{${prefix}}`;

export interface IngestJobData {
  syncId: string;
  destination: Destination;
  /** Absolute paths readable by the worker. */
  inputs: string[];
  /** Absolute mapping file or directory. */
  mappingPath: string;
}

export interface DeliverJobData {
  syncId: string;
  destination: Destination;
  events: BillableEvent[];
}
