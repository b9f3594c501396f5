import type { BillableEvent, Destination, EventOutcome, UsageTotal } from "../model/index.js";

export interface SinkLimits {
  /** Events per request (Lago: 100 per /events/batch). */
  maxBatchSize: number;
}

export interface HealthReport {
  ok: boolean;
  /** Human-readable problems (unknown metric codes, customers without subscription, …). Never secrets. */
  problems: string[];
}

export interface ReadTotalsQuery {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  customers: string[];
  metrics: { metric: string; valueProperty: string }[];
}

/**
 * The contract of a billing destination. `send` returns exactly one outcome per event, in order,
 * from the closed set in model/outcome.ts; it never throws for a destination answer
 * (network failures become `retry`).
 */
export interface BillingSink {
  readonly kind: Destination;
  readonly limits: SinkLimits;
  healthcheck(metrics: string[], customers: string[]): Promise<HealthReport>;
  send(batch: BillableEvent[]): Promise<EventOutcome[]>;
  /**
   * What the destination holds, per customer × metric × model, for reconciliation.
   * `events` is -1 when the destination cannot count events (OpenMeter with event counting off:
   * its meter queries return sums only). Throws on failure, with a message free of secrets.
   */
  readTotals(query: ReadTotalsQuery): Promise<UsageTotal[]>;
}
