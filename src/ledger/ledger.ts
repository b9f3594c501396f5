import type { BillableEvent, Destination, UsageTotal } from "../model/index.js";

/** One dead-lettered event with the destination's reason. */
export interface DeadLetter {
  event: BillableEvent;
  reason: string;
  at: string;
}

/**
 * What was delivered where. The ledger is the guard against double billing: an event key is
 * recorded once per destination, and only that first recording moves the aggregates, so
 * replays, retries and concurrent workers can never count an event twice.
 * Write order for a delivery: filterUndelivered (dedupe) → send → recordDelivered → ack.
 */
export interface Ledger {
  /** The subset of `keys` not yet recorded as delivered to `destination`, in input order. */
  filterUndelivered(destination: Destination, keys: string[]): Promise<string[]>;
  /** Records events as delivered; returns how many were new (the rest were already recorded). */
  recordDelivered(destination: Destination, events: BillableEvent[]): Promise<number>;
  /**
   * Claims keys for sending (a lease): only one worker sends an event at a time, so two jobs
   * holding the same event (overlapping syncs, duplicates in an export) never both send it.
   * Returns the keys this owner now holds.
   */
  claim(destination: Destination, keys: string[], owner: string, leaseMs: number): Promise<string[]>;
  /** Gives up this owner's claims (after recording, or to let a retry take them). */
  release(destination: Destination, keys: string[], owner: string): Promise<void>;
  deadLetter(destination: Destination, letters: DeadLetter[]): Promise<void>;
  deadLetters(destination: Destination, limit?: number): Promise<DeadLetter[]>;
  /** Delivered totals per customer × metric × model over whole UTC days [fromDay, toDay). */
  totals(destination: Destination, from: Date, to: Date): Promise<UsageTotal[]>;
}

/** UTC day bucket (YYYY-MM-DD) of an ISO timestamp: the granularity of ledger aggregates. */
export function dayOf(iso: string): string {
  return new Date(iso).toISOString().slice(0, 10);
}
