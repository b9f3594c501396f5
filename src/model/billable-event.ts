import type { Destination } from "./totals.js";
import type { Platform } from "./trace-record.js";

export type PropertyValue = string | number | boolean;

/**
 * What a destination calls the metric and its properties when a mapping names them differently
 * from ours (property renames: our name → the destination's; the quantity property included).
 */
export interface DestinationNames {
  lago?: { code: string; properties?: Record<string, string> };
  openmeter?: { type: string; properties?: Record<string, string> };
}

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
  /**
   * `<mapping>@<content hash>` of the mapping file that produced it, for audit; sent to the
   * destinations as the `mapping_version` property. Never part of `id`: editing the policy must
   * not make delivered events look new.
   */
  mappingVersion?: string;
  /** Destination-specific names; absent when the destination uses ours. */
  destinations?: DestinationNames;
}

/** Property carrying `mappingVersion` on the wire. */
export const MAPPING_VERSION_PROPERTY = "mapping_version";

/**
 * The metric name and properties as `destination` receives them: its own names applied, the
 * mapping version added for audit, the quantity written last so a property sharing its name can
 * never replace the billed value.
 */
export function wireFields(event: BillableEvent, destination: Destination): { name: string; properties: Record<string, PropertyValue> } {
  const names = destination === "lago" ? event.destinations?.lago : event.destinations?.openmeter;
  const valueName = event.valueProperty ?? "value";
  const version: Record<string, PropertyValue> = event.mappingVersion === undefined ? {} : { [MAPPING_VERSION_PROPERTY]: event.mappingVersion };
  if (!names) return { name: event.metric, properties: { ...event.properties, ...version, [valueName]: event.value } };
  const rename = names.properties ?? {};
  const properties: Record<string, PropertyValue> = {};
  for (const [k, v] of Object.entries({ ...event.properties, ...version })) properties[rename[k] ?? k] = v;
  properties[rename[valueName] ?? valueName] = event.value;
  return { name: "code" in names ? names.code : names.type, properties };
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
