import type { Platform } from "./trace-record.js";

export type PropertyValue = string | number | boolean;

/** A billable quantity produced by a mapping from one TraceRecord. JSON-safe (travels in jobs). */
export interface BillableEvent {
  /** Deterministic, URL-safe idempotency key (Lago transaction_id, CloudEvents id). */
  id: string;
  customer: string;
  metric: string;
  value: number;
  /** Usage time, ISO-8601 UTC. */
  timestamp: string;
  properties: Record<string, PropertyValue>;
  source: { platform: Platform; record_id: string; trace_id: string };
  /** Name of the mapping that produced it. */
  mapping: string;
  /** Lago external_subscription_id when the mapping gives one; otherwise resolved by the Lago sink. */
  subscription?: string;
  /** Name of the quantity property on the wire (default "value"). */
  valueProperty?: string;
  /** Quantity is not the platform's reported count. */
  estimated?: boolean;
}

/** A record the mapping chose not to bill, with the reason (cache hit, error, no customer, …). */
export interface Skip {
  source_record_id: string;
  reason: string;
  /** Set when a later input may still make the record billable (its trace context may arrive). */
  code?: "no-customer";
}

/** An input record that could not be read or normalized; good records around it still bill. */
export interface Quarantined {
  input: string;
  /** e.g. "line 12" or "index 3". */
  position: string;
  reason: string;
}
