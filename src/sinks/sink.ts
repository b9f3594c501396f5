import type { BillableEvent, Destination, EventOutcome, UsageTotal, DestinationNames } from "../model/index.js";

export interface SinkLimits {
  /** Events per request (Lago: 100 per /events/batch). */
  maxBatchSize: number;
}

/**
 * Whom a transient failure is about.
 * - `event`: this request failed (a 500 mid-batch, a reset, a timeout); other requests may pass.
 * - `destination`: the destination as a whole cannot take events now (connection refused, DNS,
 *   502/503/504, rate limited, or every recent request failing). Sending more only burns attempts:
 *   pause the destination's queue, poll `probe()`, resume when it answers (and not before `afterMs`).
 */
export type RetryScope = "event" | "destination";

/** A `retry` outcome as sinks return it: with its scope (absent = "event"). */
export type RetryOutcome = Extract<EventOutcome, { status: "retry" }> & { scope?: RetryScope };

/** What `send` returns per event: model/outcome.ts's closed set, the retry case carrying its scope. */
export type SinkOutcome = Exclude<EventOutcome, { status: "retry" }> | RetryOutcome;

export interface SendOptions {
  /**
   * Some events of this batch may already have reached the destination through an attempt whose
   * answer was lost (a retried job, or one re-run after its worker died mid-request). A destination
   * without server-side dedupe (self-hosted OpenMeter) then looks the events up by id before
   * sending and reports the stored ones as delivered. Lago ignores it: it refuses a known
   * transaction_id with value_already_exist, which `send` reports as `duplicate`.
   */
  maybeSent?: boolean;
}

/**
 * What a healthcheck found.
 * - `unknown_metric`: the destination has no metric/meter for this code.
 * - `metric_mismatch`: it exists but cannot be billed or reconciled as tracebill sends it.
 * - `no_subscription` / `ambiguous_subscription`: Lago customer with no / several active subscriptions.
 * - `unchecked`: the check itself failed (destination unreachable, key refused…).
 */
export type HealthIssueKind = "unknown_metric" | "metric_mismatch" | "no_subscription" | "ambiguous_subscription" | "unchecked";

export interface HealthIssue {
  kind: HealthIssueKind;
  /**
   * `blocking`: do NOT send events of `metric` (the destination would accept them and never bill
   * them, or this could not be ruled out). `warning`: report it; sending is safe (the affected
   * events are rejected one by one with a reason, or counted once the destination is fixed).
   */
  severity: "blocking" | "warning";
  metric?: string;
  customer?: string;
  /** Human-readable. Never secrets. */
  message: string;
}

export interface HealthReport {
  /** No issue at all. */
  ok: boolean;
  /** Every issue's message, in check order. Never secrets. */
  problems: string[];
  /** Messages of the blocking issues: events of these metrics must not be sent. */
  blocking: string[];
  /** Messages of the warnings: report, then send. */
  warnings: string[];
  /** The same, structured: the worker acts on `severity` and `metric`. */
  issues: HealthIssue[];
}

export interface ReadTotalsQuery {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  customers: string[];
  /** With the mapping's destination names, so read-back queries what was actually sent. */
  metrics: { metric: string; valueProperty: string; destinations?: DestinationNames }[];
}

/**
 * The contract of a billing destination. `send` returns exactly one outcome per event, in order,
 * from the closed set in model/outcome.ts (retries carrying a `scope`); it never throws for a
 * destination answer (network failures become `retry`).
 */
export interface BillingSink {
  readonly kind: Destination;
  readonly limits: SinkLimits;
  healthcheck(metrics: string[], customers: string[]): Promise<HealthReport>;
  send(batch: BillableEvent[], options?: SendOptions): Promise<SinkOutcome[]>;
  /**
   * One cheap authenticated GET: true when the destination's API answers 2xx with our key. Never
   * throws. Poll it while a destination is paused after `scope: "destination"` retries.
   */
  probe(): Promise<boolean>;
  /**
   * What the destination holds, per customer × metric × model, for reconciliation.
   * `events` is -1 when the destination cannot count events (OpenMeter with event counting off:
   * its meter queries return sums only). Throws on failure, with a message free of secrets.
   */
  readTotals(query: ReadTotalsQuery): Promise<UsageTotal[]>;
  /**
   * Optional (Lago): the open billing period of each customer's active subscription, from
   * current_usage. Customers without one are left out. Throws on failure, free of secrets.
   */
  openPeriods?(customers: string[]): Promise<OpenPeriod[]>;
  /**
   * Which of `events` the destination holds, by id (Lago: transaction_id; OpenMeter: event id and
   * our source): per-event checks behind a reconciliation row that differs. Throws on failure,
   * free of secrets.
   */
  heldIds?(events: BillableEvent[]): Promise<Set<string>>;
}

/** The current (open) billing period of a customer's subscription, as the biller reports it. */
export interface OpenPeriod {
  customer: string;
  subscription: string;
  /** ISO-8601: usage before this instant is not billed in the open period (it is late). */
  from: string;
  to: string;
  /**
   * What the biller counts in this period so far, per metric code (Lago current_usage
   * charges_usage; a metric charged twice appears once, with `charges` > 1).
   */
  usage?: { code: string; units: number; events: number; charges: number }[];
}

/** Builds a HealthReport from its issues, in order. */
export function healthReport(issues: HealthIssue[]): HealthReport {
  return {
    ok: issues.length === 0,
    problems: issues.map((i) => i.message),
    blocking: issues.filter((i) => i.severity === "blocking").map((i) => i.message),
    warnings: issues.filter((i) => i.severity === "warning").map((i) => i.message),
    issues,
  };
}
