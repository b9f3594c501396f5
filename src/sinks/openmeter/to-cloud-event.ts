import { wireFields, type BillableEvent, type PropertyValue } from "../../model/index.js";

/** The CloudEvent as OpenMeter's ingest schema (`Event`) defines it, with the fields we always set. */
export interface CloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  subject: string;
  /** RFC 3339. OpenMeter keeps it to the second. */
  time: string;
  data: Record<string, PropertyValue>;
}

/** Stable across retries and replays: OpenMeter dedupes on source + id (openmeter.md §2). */
export const CLOUD_EVENT_SOURCE = "tracebill";

/**
 * One BillableEvent as a CloudEvent: type = metric (the meter's eventType), subject = customer,
 * under the mapping's OpenMeter names when it gives them. The quantity is written last so a
 * property sharing its name can never replace it.
 */
export function toCloudEvent(event: BillableEvent, source: string = CLOUD_EVENT_SOURCE): CloudEvent {
  const { name, properties } = wireFields(event, "openmeter");
  return {
    specversion: "1.0",
    id: event.id,
    source,
    type: name,
    subject: event.customer,
    time: event.timestamp,
    data: properties,
  };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * What OpenMeter's request validator would refuse, checked before sending: the validator refuses a
 * whole batch for one bad event, so bad events are set aside here and only they are rejected.
 * Also refuses a non-finite quantity, which JSON would turn into null and OpenMeter would silently not sum.
 */
export function cloudEventProblems(ce: CloudEvent, valueProperty = "value"): string[] {
  const problems: string[] = [];
  for (const k of ["id", "source", "specversion", "type", "subject"] as const) {
    if (typeof ce[k] !== "string" || ce[k].length < 1) problems.push(`${k} is empty`);
  }
  if (typeof ce.time !== "string" || !RFC3339.test(ce.time) || Number.isNaN(Date.parse(ce.time))) problems.push(`time is not an RFC 3339 date-time (${JSON.stringify(ce.time)})`);
  if (typeof ce.data !== "object" || ce.data === null || Array.isArray(ce.data)) problems.push("data is not an object");
  else if (typeof ce.data[valueProperty] === "number" && !Number.isFinite(ce.data[valueProperty])) problems.push(`data.${valueProperty} is not a finite number`);
  return problems;
}
