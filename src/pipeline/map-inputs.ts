import { evaluateRecord, type MappingSet } from "../mapping/index.js";
import type { BillableEvent, Quarantined, Skip } from "../model/index.js";
import { readInputs } from "../sources/registry.js";

export type MappedItem =
  | { kind: "event"; event: BillableEvent }
  | { kind: "skip"; skip: Skip }
  | { kind: "quarantine"; entry: Quarantined };

/**
 * Inputs → billable events, streaming: the one path shared by preview (no Redis, no network),
 * the ingest job and the benchmarks, so what preview shows is what sync sends.
 */
export async function* mapInputs(inputs: string[], mappings: MappingSet): AsyncGenerator<MappedItem> {
  for await (const item of readInputs(inputs)) {
    if (item.kind === "quarantine") {
      yield { kind: "quarantine", entry: item.entry };
      continue;
    }
    const { events, skips } = evaluateRecord(mappings, item.record);
    for (const event of events) yield { kind: "event", event };
    for (const skip of skips) yield { kind: "skip", skip };
  }
}
