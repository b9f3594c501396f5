import { payerOf, type MappingSet } from "../mapping/index.js";
import { addQuarantine, addRecord, type BillableEvent, type Exclusions, type Skip, type TraceRecord } from "../model/index.js";
import type { MappedItem } from "./map-inputs.js";

/**
 * Folds mapInputs items into an Exclusions tally, one record at a time: a record's events and
 * skips arrive together, so it is added when the next record's first item (or `flush`) comes.
 * With `window`, records whose usage time falls outside [from, to) are left out (quarantined
 * items carry no time and always count).
 */
export class ExclusionCounter {
  private current: TraceRecord | undefined;
  private events: BillableEvent[] = [];
  private skips: Skip[] = [];

  constructor(
    public target: Exclusions,
    private readonly mappings: MappingSet,
    private readonly window?: { from: number; to: number },
  ) {}

  push(item: MappedItem): void {
    if (item.kind === "quarantine") {
      addQuarantine(this.target, item.entry);
      return;
    }
    if ((item.kind !== "event" && item.kind !== "skip") || !item.record) return;
    if (item.record !== this.current) {
      this.flush();
      this.current = item.record;
    }
    if (item.kind === "event") this.events.push(item.event);
    else this.skips.push(item.skip);
  }

  /** Adds the record in hand (call before reading `target` as complete). */
  flush(): void {
    const r = this.current;
    if (r && this.inWindow(r)) {
      addRecord(this.target, r, this.events, this.skips, () => payerOf(this.mappings, r));
    }
    this.current = undefined;
    this.events = [];
    this.skips = [];
  }

  private inWindow(r: TraceRecord): boolean {
    if (!this.window) return true;
    const t = Date.parse(r.endTime ?? r.startTime ?? "");
    return Number.isFinite(t) && t >= this.window.from && t < this.window.to;
  }
}
