/**
 * @module Streaming side of attribution: reads the pipeline's mapped items once, keeping only
 * small per-window sums (tenant activity, unattributed usage), and hands them to `allocate`.
 *
 * Unattributed usage is measured with the mapping set itself: a `no-customer` record is
 * evaluated once more with a stand-in customer appended to every mapping's candidates, so its
 * quantities follow the same billing policy (cache reads, requested model, …) as billed usage,
 * and its events carry the ids the call would have been billed under.
 */
import { evaluateRecord, type MappingSet } from "../mapping/index.js";
import type { CompiledExpr, CompiledMapping } from "../mapping/compile.js";
import type { BillableEvent, Platform, Skip, TraceRecord } from "../model/index.js";
import type { ResumePoint } from "../sources/registry.js";
import { allocate, compare, fromUnits, toUnits, windowOf, type ActivityEntry, type AllocateOptions, type AllocationResult, type UnattributedEntry } from "./allocate.js";
import type { AllocationModel, AttributionConfig, WindowSize } from "./config.js";

/**
 * What the collector reads: the pipeline's MappedItem. A `no-customer` skip must carry its
 * `record` (and `contextFound`) for its usage to be measured.
 */
export interface AttributionItem {
  kind: string;
  event?: BillableEvent;
  skip?: Skip;
  record?: TraceRecord;
  /** False when the record's trace context (root run / Langfuse trace) never arrived: its tenant may still be known later. */
  contextFound?: boolean;
  /** The pipeline's resume point (MappedItem.at). */
  at?: ResumePoint;
}

/** Items the stream helper adds after the input's own: allocation events, and a note per total left unallocated. */
export type AllocationItem = ({ kind: "event"; event: BillableEvent } | { kind: "note"; input: string; note: string }) & {
  /** The last input item's position: allocation comes once everything was read. */
  at?: ResumePoint;
};

/** Usage under direct attribution, per tenant and allocated metric. */
export interface DirectTotal {
  tenant: string;
  metric: string;
  quantity: number;
  /** The tenant is one of `unattributed.customers`: its usage is shared spend. */
  shared: boolean;
}

/** Usage left out of the unattributed totals, and why. */
export interface NotCounted {
  metric: string;
  /** Unknown (0) for records whose usage could not be measured. */
  quantity: number;
  /** Calls (records) left out. */
  records: number;
  reason: "trace-unknown" | "unmeasured";
}

export interface Collected {
  activity: ActivityEntry[];
  unattributed: UnattributedEntry[];
  direct: DirectTotal[];
  notCounted: NotCounted[];
}

/** Customer no tenant id can be (NUL is never in text a trace platform gives). */
export const UNATTRIBUTED_CUSTOMER = "\u0000unattributed";

const FALLBACK: CompiledExpr = { at: "attribution", source: "(unattributed)", evaluate: () => UNATTRIBUTED_CUSTOMER };
const fallbackSets = new WeakMap<MappingSet, MappingSet>();

/** The set with a last-resort customer in every mapping: what it bills to that customer is unattributed. */
export function withFallbackCustomer(set: MappingSet): MappingSet {
  let out = fallbackSets.get(set);
  if (!out) {
    out = { ...set, mappings: set.mappings.map((m): CompiledMapping => ({ ...m, customer: [...m.customer, FALLBACK] })) };
    fallbackSets.set(set, out);
  }
  return out;
}

/**
 * The events a record would bill if it named a tenant, for the mappings that found none
 * (customer = UNATTRIBUTED_CUSTOMER). Empty when every mapping found a customer or skipped it.
 */
export function unattributedUsage(set: MappingSet, record: TraceRecord): BillableEvent[] {
  return evaluateRecord(withFallbackCustomer(set), record).events.filter((e) => e.customer === UNATTRIBUTED_CUSTOMER);
}

interface Contribution {
  window: string;
  metric: string;
  model: string;
  type: string;
  units: bigint;
  platform: Platform;
  valueProperty: string | undefined;
  /** The call it came from (platform and record id). */
  call: string;
  /** False: left out (trace context unknown) but kept so a later copy of the call can claim it. */
  counted: boolean;
}

export interface CollectorOptions {
  /** Usage time window [from, to) (ISO); items outside it are ignored. */
  period?: { from: string; to: string };
}

/**
 * Folds mapped items into per-window sums. Events are counted once per id (the ledger bills a
 * call traced twice once); an unattributed call that also appears attributed (a gateway and an
 * SDK tracing the same response) counts as attributed, in whichever order the two arrive.
 */
export class AttributionCollector {
  private readonly metrics: ReadonlySet<string>;
  private readonly shared: ReadonlySet<string>;
  private readonly period: { from: number; to: number } | undefined;
  /** Ids billed to real tenants. */
  private readonly seen = new Set<string>();
  /** Ids billed to shared pseudo-tenants. */
  private readonly sharedSeen = new Set<string>();
  private readonly activity = new Map<string, { entry: ActivityEntry; units: bigint }>();
  private readonly direct = new Map<string, { total: DirectTotal; units: bigint }>();
  /** Unattributed contributions by event id, settled at the end against the attributed ids. */
  private readonly pending = new Map<string, Contribution>();
  private readonly calls = new Set<string>();
  private unmeasured = 0;
  private lastRecord: TraceRecord | undefined;

  constructor(
    private readonly set: MappingSet,
    private readonly config: AttributionConfig,
    opts: CollectorOptions = {},
  ) {
    this.metrics = new Set(config.metrics);
    this.shared = new Set(config.unattributed.customers);
    this.period = opts.period ? { from: Date.parse(opts.period.from), to: Date.parse(opts.period.to) } : undefined;
  }

  /** Reads one item; false when it must not be passed on (a shared pseudo-tenant's event, which allocation replaces). */
  add(item: AttributionItem): boolean {
    if (item.kind === "event" && item.event) return this.addEvent(item.event);
    if (item.kind === "skip" && item.skip?.code && this.config.unattributed.skipCodes.includes(item.skip.code)) this.addSkip(item);
    return true;
  }

  private inPeriod(timestamp: string): boolean {
    if (!this.period) return true;
    const t = Date.parse(timestamp);
    return t >= this.period.from && t < this.period.to;
  }

  private addEvent(e: BillableEvent): boolean {
    if (!this.metrics.has(e.metric)) return true;
    const shared = this.shared.has(e.customer);
    // Outside the period nothing is allocated, so nothing is withheld either.
    if (!this.inPeriod(e.timestamp)) return true;
    if (shared) {
      if (!this.sharedSeen.has(e.id)) {
        this.sharedSeen.add(e.id);
        this.addDirect(e, true);
      }
      this.contribute(e, true);
      return false;
    }
    if (this.seen.has(e.id)) return true;
    this.seen.add(e.id);
    const units = toUnits(e.value);
    this.addDirect(e, false);

    const window = windowOf(e.timestamp, this.config.window);
    const model = modelOf(e);
    const ak = [window, e.metric, e.customer, model].join("\u0000");
    const a = this.activity.get(ak) ?? { entry: { window, metric: e.metric, tenant: e.customer, model, quantity: 0, calls: 0 }, units: 0n };
    a.units += units;
    if (this.config.activity === "calls") {
      const call = `${e.metric}\u0000${e.source.platform}\u0000${e.source.record_id}`;
      if (!this.calls.has(call)) {
        this.calls.add(call);
        a.entry.calls += 1;
      }
    }
    this.activity.set(ak, a);
    return true;
  }

  private addSkip(item: AttributionItem): void {
    const record = item.record;
    if (!record) {
      this.unmeasured += 1;
      return;
    }
    // A record skipped by several mappings comes once per skip; its usage is measured once.
    if (record === this.lastRecord) return;
    this.lastRecord = record;
    const counted = item.contextFound !== false || !this.config.unattributed.requireTraceContext;
    for (const e of unattributedUsage(this.set, record)) {
      if (this.metrics.has(e.metric) && this.inPeriod(e.timestamp)) this.contribute(e, counted);
    }
  }

  private contribute(e: BillableEvent, counted: boolean): void {
    const prev = this.pending.get(e.id);
    // Two copies of one unattributed call: counted if either copy's trace is known.
    if (prev) {
      prev.counted ||= counted;
      return;
    }
    this.pending.set(e.id, {
      window: windowOf(e.timestamp, this.config.window),
      metric: e.metric,
      model: modelOf(e),
      type: typeOf(e),
      units: toUnits(e.value),
      platform: e.source.platform,
      valueProperty: e.valueProperty,
      call: `${e.source.platform}\u0000${e.source.record_id}`,
      counted,
    });
  }

  private addDirect(e: BillableEvent, shared: boolean): void {
    const dk = `${e.customer}\u0000${e.metric}`;
    const d = this.direct.get(dk) ?? { total: { tenant: e.customer, metric: e.metric, quantity: 0, shared }, units: 0n };
    d.units += toUnits(e.value);
    this.direct.set(dk, d);
  }

  /** The sums so far, sorted; unattributed calls also billed to a tenant are dropped here. */
  collected(): Collected {
    const groups = new Map<string, UnattributedEntry & { units: bigint }>();
    const left = new Map<string, NotCounted & { units: bigint; calls: Set<string> }>();
    for (const [id, c] of this.pending) {
      if (this.seen.has(id)) continue;
      if (!c.counted) {
        const n = left.get(c.metric) ?? { metric: c.metric, quantity: 0, records: 0, reason: "trace-unknown" as const, units: 0n, calls: new Set<string>() };
        n.units += c.units;
        n.calls.add(c.call);
        n.records = n.calls.size;
        left.set(c.metric, n);
        continue;
      }
      const k = [c.window, c.metric, c.model, c.type, c.platform, c.valueProperty ?? ""].join("\u0000");
      const g = groups.get(k) ?? { window: c.window, metric: c.metric, model: c.model, type: c.type, quantity: 0, records: 0, platform: c.platform, ...(c.valueProperty === undefined ? {} : { valueProperty: c.valueProperty }), units: 0n };
      g.units += c.units;
      g.records += 1;
      groups.set(k, g);
    }
    const sortBy = <T>(rows: T[], k: (r: T) => string) => rows.sort((a, b) => compare(k(a), k(b)));
    const notCounted: NotCounted[] = [...left.values()].map(({ units, calls: _calls, ...n }) => ({ ...n, quantity: fromUnits(units) }));
    if (this.unmeasured > 0) notCounted.push({ metric: "", quantity: 0, records: this.unmeasured, reason: "unmeasured" });
    return {
      activity: sortBy([...this.activity.values()].map(({ entry, units }) => ({ ...entry, quantity: fromUnits(units) })), (a) => [a.window, a.metric, a.tenant, a.model].join("\u0000")),
      unattributed: sortBy([...groups.entries()], ([k]) => k).map(([, { units, ...g }]) => ({ ...g, quantity: fromUnits(units) })),
      direct: sortBy([...this.direct.values()].map(({ total, units }) => ({ ...total, quantity: fromUnits(units) })), (d) => `${d.tenant}\u0000${d.metric}`),
      notCounted: sortBy(notCounted, (n) => `${n.reason}\u0000${n.metric}`),
    };
  }

  /** Allocates what was collected (the config's model unless overridden). */
  allocate(opts: AllocateOptions = {}): AllocationResult {
    const c = this.collected();
    return allocate(c.activity, c.unattributed, this.config, opts);
  }
}

/** The effective allocation model: the override, else the config's; undefined for direct attribution. */
export function allocationModelOf(config: AttributionConfig, override?: AllocationModel): AllocationModel | undefined {
  return override ?? (config.model === "direct" ? undefined : config.model);
}

export interface AllocationStreamOptions extends AllocateOptions {
  /** Only usage in [from, to) is allocated (items outside it still pass on). */
  period?: { from: string; to: string };
  /** Pass on nothing of the input: only the allocation events and notes (a per-period allocation job). */
  onlyAllocations?: boolean;
}

/**
 * The pipeline's items with allocation: every item is passed on as it comes (except events of
 * shared pseudo-tenants, which allocation replaces), then one event per tenant and allocation
 * group, then a note per total left unallocated. With direct attribution the items pass
 * through untouched. Allocation needs whole windows: use it where one run reads whole windows
 * (preview, back-test, a per-period allocation job), never per chunk or on a resumed read.
 */
export async function* withAllocations<T extends AttributionItem>(
  items: AsyncIterable<T>,
  set: MappingSet,
  config: AttributionConfig,
  opts: AllocationStreamOptions = {},
): AsyncGenerator<T | AllocationItem> {
  const model = allocationModelOf(config, opts.model);
  if (!model) {
    if (!opts.onlyAllocations) yield* items;
    return;
  }
  const collector = new AttributionCollector(set, config, opts.period ? { period: opts.period } : {});
  let last: ResumePoint | undefined;
  for await (const item of items) {
    last = item.at ?? last;
    if (collector.add(item) && !opts.onlyAllocations) yield item;
  }
  const result = collector.allocate({ model, ...(opts.scope === undefined ? {} : { scope: opts.scope }) });
  const at = last ? { at: last } : {};
  for (const event of result.events) yield { kind: "event", event, ...at };
  const input = config.file;
  for (const u of result.unallocated) {
    yield { kind: "note", input, note: `${u.quantity} ${u.metric} (${[u.model, u.type].filter(Boolean).join(" ") || "—"}) in ${u.window} not allocated: ${u.reason}`, ...at };
  }
  for (const n of collector.collected().notCounted) yield { kind: "note", input, note: notCountedText(n), ...at };
}

/** Whether [from, to) starts and ends on window boundaries (a cut window is allocated on part of its activity). */
export function isWholeWindows(from: string, to: string, window: WindowSize): boolean {
  const size = window === "day" ? 86_400_000 : 3_600_000;
  return Date.parse(from) % size === 0 && Date.parse(to) % size === 0;
}

export function notCountedText(n: NotCounted): string {
  return n.reason === "trace-unknown"
    ? `${n.quantity} ${n.metric} from ${n.records} call${n.records === 1 ? "" : "s"} not allocated: no customer and the trace never arrived in these inputs (its tenant may still be known later)`
    : `${n.records} no-customer skip${n.records === 1 ? "" : "s"} came without their record, so their usage could not be measured (the pipeline must pass the record)`;
}

function modelOf(e: BillableEvent): string {
  const m = e.properties.model;
  return m === undefined ? "" : String(m);
}

function typeOf(e: BillableEvent): string {
  const t = e.properties.type;
  return t === undefined ? "" : String(t);
}
