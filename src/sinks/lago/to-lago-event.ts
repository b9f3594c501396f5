import type { EventInputObject } from "lago-javascript-client";
import { wireFields, type BillableEvent } from "../../model/index.js";

/**
 * Unix seconds with millisecond decimals, as Lago's `timestamp` expects. An unparseable
 * timestamp is passed through unchanged so Lago itself reports it (`invalid_format`) and the
 * event is rejected with Lago's reason instead of being billed at reception time.
 */
export function toLagoTimestamp(iso: string): number | string {
  const ms = Date.parse(iso);
  // ms / 1000 prints exactly (1651240791123 / 1000 → 1651240791.123), so no float noise reaches Lago.
  return Number.isNaN(ms) ? iso : ms / 1000;
}

/**
 * One BillableEvent as a Lago `EventInputObject`, under the mapping's Lago names when it gives
 * them. The quantity is written last so a property that happens to share its name can never
 * replace the billed value.
 */
export function toLagoEvent(event: BillableEvent, subscriptionId: string): EventInputObject {
  const { name, properties } = wireFields(event, "lago");
  return {
    transaction_id: event.id,
    external_subscription_id: subscriptionId,
    code: name,
    timestamp: toLagoTimestamp(event.timestamp),
    properties,
  };
}
