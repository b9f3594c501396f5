import { evaluateRecord, type MappingSet } from "../mapping/index.js";
import type { BillableEvent, Quarantined, Skip, TraceRecord } from "../model/index.js";
import type { ContextStore } from "../sources/context.js";
import type { DetectOverride } from "../sources/source.js";
import { detectInputs, readDetected, type ResumePoint } from "../sources/registry.js";

/** A store that can hold records back until their trace context arrives (the worker's Redis store). */
export interface ParkingStore extends ContextStore {
  /** Holds records whose trace is unknown; returns those whose context arrived meanwhile. */
  park(records: TraceRecord[]): Promise<TraceRecord[]>;
  /**
   * Parked records whose trace context this read added. They stay parked until the caller
   * commits (once their events are safely queued), so a crash in between loses nothing.
   */
  takeReleased(): Promise<TraceRecord[]>;
}

export type MappedItem = (
  /** `record`: the record it came from (for what a report says was and was not billed). */
  | { kind: "event"; event: BillableEvent; record?: TraceRecord }
  | {
      kind: "skip";
      skip: Skip;
      /** The record skipped (attribution measures the usage no tenant pays for; reports count exclusions). */
      record?: TraceRecord;
      /** With `record`: whether its trace context was found. */
      contextFound?: boolean;
    }
  | { kind: "quarantine"; entry: Quarantined }
  /** Held back until its trace context arrives (worker only). */
  | { kind: "parked"; record: TraceRecord }
  /** What the reader says about an input (once per input and note). */
  | { kind: "note"; input: string; note: string }
) & {
  /** Position reached once this item is handled: a resumed read continues after it. */
  at?: ResumePoint;
};

export interface MapOptions {
  store?: ContextStore | ParkingStore;
  override?: DetectOverride;
  resume?: ResumePoint;
}

const PARK_BATCH = 200;

function isParking(store: ContextStore | undefined): store is ParkingStore {
  return !!store && "park" in store && typeof (store as ParkingStore).park === "function";
}

/**
 * Inputs → billable events, streaming: the one path shared by preview (no Redis, no network),
 * the ingest job and the benchmarks, so what preview shows is what sync sends.
 *
 * A record that names no customer and whose trace context is unknown may still become billable
 * when its trace arrives (a Langfuse traces export in a later file or job): with a parking
 * store it is held back; without one (preview) it is skipped with that reason, never billed to a guess.
 */
export async function* mapInputs(inputs: string[], mappings: MappingSet, opts: MapOptions = {}): AsyncGenerator<MappedItem> {
  const parking = isParking(opts.store) ? opts.store : undefined;
  let toPark: TraceRecord[] = [];
  // A plain array, not a generator: one less object and resumption per record on the hot path.
  const evaluate = (record: TraceRecord, contextFound: boolean, at?: ResumePoint): MappedItem[] => {
    const { events, skips } = evaluateRecord(mappings, record);
    const items: MappedItem[] = [];
    for (const event of events) items.push({ kind: "event", event, record, at });
    for (const skip of skips) {
      if (skip.code === "no-customer" && !contextFound) {
        if (parking) {
          toPark.push(record);
          items.push({ kind: "parked", record, at });
          continue;
        }
        items.push({ kind: "skip", skip: { ...skip, reason: `${skip.reason} (its trace ${record.traceId} never arrived in these inputs)` }, record, contextFound, at });
      } else if (skip.code === "no-customer") items.push({ kind: "skip", skip, record, contextFound, at });
      else items.push({ kind: "skip", skip, record, at });
    }
    return items;
  };
  const flushParking = async function* (): AsyncGenerator<MappedItem> {
    if (!parking || toPark.length === 0) return;
    const batch = toPark;
    toPark = [];
    // The trace may have arrived between our join and the parking: those come straight back.
    const back = await parking.park(batch);
    if (back.length) yield* rejoin(back);
  };
  const rejoin = async function* (records: TraceRecord[]): AsyncGenerator<MappedItem> {
    const joined = await opts.store!.apply(records);
    for (const j of joined) {
      for (const item of evaluate(j.record, true)) {
        // Re-parking a record whose context is known would loop; report it instead.
        if (item.kind === "parked") continue;
        yield item;
      }
    }
  };

  // readInputs' two steps, without its generator in between: each record would pay an extra await.
  for await (const item of readDetected(await detectInputs(inputs, opts.override), { store: opts.store, resume: opts.resume, override: opts.override })) {
    const at = { input: item.inputIndex, item: item.itemIndex + 1 };
    if (item.kind === "note") {
      yield { kind: "note", input: item.input, note: item.note, at };
      continue;
    }
    if (item.kind === "quarantine") {
      yield { kind: "quarantine", entry: item.entry, at };
      continue;
    }
    for (const mapped of evaluate(item.record, item.contextFound, at)) yield mapped;
    if (toPark.length >= PARK_BATCH) yield* flushParking();
  }
  yield* flushParking();
  if (parking) yield* rejoin(await parking.takeReleased());
}
