import { isCanonicalUtc, type BillableEvent, type Destination, type UsageTotal } from "../model/index.js";

/** One dead-lettered event with the destination's reason. */
export interface DeadLetter {
  event: BillableEvent;
  reason: string;
  /** When it was (last) dead-lettered, ISO-8601. */
  at: string;
  /** Delivery attempts the job had made when it gave the event up (the deliver job's attemptsMade + 1). */
  attempts?: number;
}

/** A dead letter as the ledger keeps it: with its history across replays and `dlq retry`. */
export interface StoredDeadLetter extends DeadLetter {
  /** When the event was first dead-lettered (kept across overwrites). */
  firstAt: string;
  /** How many times it was dead-lettered while in the list (a replayed rejection overwrites and counts). */
  times: number;
  /** How many times `dlq retry` handed it back for delivery (it came back after each). */
  retries: number;
}

/**
 * Which dead letters a DLQ command acts on. Filters combine (AND): explicit ids, a reason
 * substring (case-insensitive), a customer (exact). `all: true` selects everything; an empty
 * selection is refused, so a missing flag can never purge or retry the whole list.
 */
export interface DeadLetterSelection {
  all?: boolean;
  ids?: string[];
  reason?: string;
  customer?: string;
  /** At most this many (oldest first). */
  limit?: number;
}

export interface DeadLetterListing {
  /** Letters matching the filter (before `limit`). */
  total: number;
  /** Matching letters per reason (before `limit`). */
  byReason: Record<string, number>;
  /** Oldest first, at most `limit`. */
  letters: StoredDeadLetter[];
}

/** What `tracebill dlq list|show|retry|purge` needs from the ledger. */
export interface DeadLetterAdmin {
  listDeadLetters(destination: Destination, filter?: Omit<DeadLetterSelection, "all">): Promise<DeadLetterListing>;
  deadLetterOf(destination: Destination, id: string): Promise<StoredDeadLetter | null>;
  /**
   * Removes the selected letters and returns them, atomically per letter: two concurrent
   * `dlq retry` runs never both get the same event. The caller hands them back for delivery; an
   * event that fails again is dead-lettered again (its `retries` count survives).
   */
  takeDeadLetters(destination: Destination, selection: DeadLetterSelection): Promise<StoredDeadLetter[]>;
  /** Puts taken letters back (when handing them on failed); never overwrites a newer letter. */
  restoreDeadLetters(destination: Destination, letters: StoredDeadLetter[]): Promise<void>;
  /** Deletes the selected letters; returns how many were deleted. */
  purgeDeadLetters(destination: Destination, selection: DeadLetterSelection): Promise<number>;
}

/**
 * What was delivered where. The ledger is the guard against double billing: an event key is
 * recorded once per destination, and only that first recording moves the aggregates, so
 * replays, retries and concurrent workers can never count an event twice.
 * Write order for a delivery: filterUndelivered (dedupe) → send → recordDelivered → ack.
 */
export interface Ledger {
  /**
   * The subset of `keys` not yet recorded as delivered to `destination`, in input order. Keys
   * are remembered for at least the replay horizon after they were recorded. (The Redis ledger
   * keeps a 64-bit fingerprint per key: a never-delivered key is taken for delivered with a
   * probability of at most ~3e-17 per live epoch probed, typically 5–10 — see redis-ledger.ts.)
   */
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
  /**
   * Optional: delivered totals recorded in the last `minutes` (by when they were recorded, not
   * usage time): what a destination may not show yet because of its ingestion lag.
   */
  recentTotals?(destination: Destination, minutes: number): Promise<UsageTotal[]>;
}

/** UTC day bucket (YYYY-MM-DD) of an ISO timestamp: the granularity of ledger aggregates. */
export function dayOf(iso: string): string {
  // Events carry canonical UTC timestamps (toIsoUtc's): their first ten characters are the day.
  return isCanonicalUtc(iso) ? iso.slice(0, 10) : new Date(iso).toISOString().slice(0, 10);
}
