/** What a destination did with one event. Closed set: sinks never invent others. */
export type EventOutcome =
  | { status: "delivered" }
  /** The destination already holds this idempotency key (e.g. Lago value_already_exist). Counts as delivered. */
  | { status: "duplicate" }
  /** Permanently refused; goes to the dead-letter queue with the destination's reason. */
  | { status: "rejected"; reason: string }
  /** Transient failure (5xx, 429, network); try again, after `afterMs` when the destination said so. */
  | { status: "retry"; reason: string; afterMs?: number };

export type OutcomeStatus = EventOutcome["status"];
