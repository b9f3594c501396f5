/**
 * @module Back-test: an allocation model run beside direct attribution over a period, per
 * tenant: what each is billed today, what it would be billed with allocation, the difference
 * and its share of the unattributed spend. Pure over the mapped items.
 */
import type { MappingSet } from "../mapping/index.js";
import type { BillableEvent } from "../model/index.js";
import { compare, fromUnits, toUnits, type Unallocated } from "./allocate.js";
import { AttributionCollector, type AttributionItem, type NotCounted } from "./collect.js";
import type { ActivityMeasure, AllocationModel, AttributionConfig, WindowSize } from "./config.js";

export interface BacktestRow {
  tenant: string;
  metric: string;
  /** Billed under direct attribution (today). */
  direct: number;
  /** Billed under the allocation model: direct usage plus the allocation (0 for a shared pseudo-tenant). */
  allocated: number;
  /** allocated − direct. */
  difference: number;
  /** The tenant's allocation ÷ the metric's unattributed total (0 when there is none). */
  share: number;
  /** One of `unattributed.customers`: its direct usage is shared spend. */
  shared: boolean;
}

export interface UnattributedSummary {
  metric: string;
  /** All unattributed usage of the period: allocated + unallocated, exactly. */
  total: number;
  allocated: number;
  unallocated: number;
  /** Windows that had unattributed usage. */
  windows: number;
}

export interface BacktestReport {
  from: string;
  to: string;
  model: AllocationModel;
  window: WindowSize;
  activity: ActivityMeasure;
  config: { file: string; name: string; version: string };
  /** Sorted by metric, then tenant. */
  rows: BacktestRow[];
  unattributed: UnattributedSummary[];
  unallocated: Unallocated[];
  notCounted: NotCounted[];
  /** The allocation events the model would send. */
  events: BillableEvent[];
}

export interface BacktestOptions {
  /** Usage time window [from, to), ISO-8601. */
  from: string;
  to: string;
  model: AllocationModel;
}

export async function backtest(items: AsyncIterable<AttributionItem> | Iterable<AttributionItem>, set: MappingSet, config: AttributionConfig, opts: BacktestOptions): Promise<BacktestReport> {
  const collector = new AttributionCollector(set, config, { period: { from: opts.from, to: opts.to } });
  for await (const item of items) collector.add(item);
  const collected = collector.collected();
  const result = collector.allocate({ model: opts.model });

  const k = (tenant: string, metric: string) => `${metric}\u0000${tenant}`;
  const rows = new Map<string, { tenant: string; metric: string; direct: bigint; allocation: bigint; shared: boolean }>();
  const row = (tenant: string, metric: string, shared: boolean) => {
    const r = rows.get(k(tenant, metric)) ?? { tenant, metric, direct: 0n, allocation: 0n, shared };
    rows.set(k(tenant, metric), r);
    return r;
  };
  for (const d of collected.direct) row(d.tenant, d.metric, d.shared).direct += toUnits(d.quantity);
  for (const e of result.events) row(e.customer, e.metric, false).allocation += toUnits(e.value);

  const totals = new Map<string, { total: bigint; allocated: bigint; unallocated: bigint; windows: Set<string> }>();
  const total = (metric: string) => {
    const t = totals.get(metric) ?? { total: 0n, allocated: 0n, unallocated: 0n, windows: new Set<string>() };
    totals.set(metric, t);
    return t;
  };
  for (const u of collected.unattributed) {
    const t = total(u.metric);
    t.total += toUnits(u.quantity);
    t.windows.add(u.window);
  }
  for (const e of result.events) total(e.metric).allocated += toUnits(e.value);
  for (const u of result.unallocated) total(u.metric).unallocated += toUnits(u.quantity);
  for (const [metric, t] of totals) {
    if (t.allocated + t.unallocated !== t.total) throw new Error(`internal: ${metric} allocation does not add up: ${t.allocated} + ${t.unallocated} ≠ ${t.total}`);
  }

  const out: BacktestRow[] = [...rows.values()]
    .sort((a, b) => compare(k(a.tenant, a.metric), k(b.tenant, b.metric)))
    .map((r) => {
      const after = (r.shared ? 0n : r.direct) + r.allocation;
      const unattributed = totals.get(r.metric)?.total ?? 0n;
      return {
        tenant: r.tenant,
        metric: r.metric,
        direct: fromUnits(r.direct),
        allocated: fromUnits(after),
        difference: fromUnits(after - r.direct),
        share: unattributed === 0n ? 0 : ratio(r.allocation, unattributed),
        shared: r.shared,
      };
    });

  return {
    from: new Date(Date.parse(opts.from)).toISOString(),
    to: new Date(Date.parse(opts.to)).toISOString(),
    model: opts.model,
    window: config.window,
    activity: config.activity,
    config: { file: config.file, name: config.name, version: config.version },
    rows: out,
    unattributed: [...totals.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([metric, t]) => ({ metric, total: fromUnits(t.total), allocated: fromUnits(t.allocated), unallocated: fromUnits(t.unallocated), windows: t.windows.size })),
    unallocated: result.unallocated,
    notCounted: collected.notCounted,
    events: result.events,
  };
}

/** a ÷ b, exact to 12 decimals (truncated). */
function ratio(a: bigint, b: bigint): number {
  return Number((a * 10n ** 12n) / b) / 1e12;
}
