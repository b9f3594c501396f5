/**
 * @module The pure core of allocation: a window's tenant activity and its unattributed totals →
 * allocation events that add up to the unattributed total EXACTLY per (window, metric, model,
 * type). Exact integer arithmetic (BigInt), largest-remainder rounding, ties broken by tenant id,
 * so the same inputs give the same events and ids in any order.
 */
import { idempotencyKey, type BillableEvent, type Platform } from "../model/index.js";
import type { AllocationModel, AttributionConfig, WindowSize } from "./config.js";

/** Directly attributed usage of one tenant, model and window (summed; repeated keys add up). */
export interface ActivityEntry {
  window: string;
  metric: string;
  tenant: string;
  /** The event's `model` property ("" when it has none). */
  model: string;
  quantity: number;
  /** Distinct calls (source records). */
  calls: number;
}

/** Usage that names no tenant (or a shared pseudo-tenant), per window, metric, model and type. */
export interface UnattributedEntry {
  window: string;
  metric: string;
  model: string;
  type: string;
  quantity: number;
  /** Events that contributed (one per call and type). */
  records: number;
  /** Platform of the contributing records (allocation events name one; they have no record of their own). */
  platform: Platform;
  /** Name of the quantity property on the wire. */
  valueProperty?: string;
}

/** An unattributed total that could not be allocated, and why. It is reported, never invented onto someone. */
export interface Unallocated {
  window: string;
  metric: string;
  model: string;
  type: string;
  quantity: number;
  records: number;
  reason: string;
}

export interface AllocationResult {
  model: AllocationModel;
  /** Sorted by window, metric, model, type, tenant. Only non-zero shares. */
  events: BillableEvent[];
  unallocated: Unallocated[];
}

export interface AllocateOptions {
  /** Overrides the config's model (the back-test compares either model with direct attribution). */
  model?: AllocationModel;
  /**
   * Names the run in the ids when several runs allocate parts of the same window (one sync per
   * pull window): each part then gets its own ids. Omit when one run sees the whole window.
   */
  scope?: string;
}

/** Quantities are exact decimals with up to 9 places: 1 unit = 1e-9. */
const SCALE = 10n ** 9n;

/** UTC window label of a timestamp: `2025-03-01` (day) or `2025-03-01T10:00Z` (hour). */
export function windowOf(timestamp: string, size: WindowSize): string {
  const iso = new Date(Date.parse(timestamp)).toISOString();
  return size === "day" ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00Z`;
}

/** First instant of a window, ISO-8601 UTC with milliseconds: the usage time of its allocation events. */
export function windowStart(window: string): string {
  return new Date(Date.parse(window)).toISOString();
}

/**
 * Allocates every unattributed total to the tenants active in its window, in proportion to
 * their activity (weighted per model by the `weighted` model). Totals are split in the finest
 * decimal unit the total itself uses (whole tokens for whole totals) with largest-remainder
 * rounding, so the shares add up to the total exactly. A window without eligible activity keeps
 * its total unallocated, with the reason.
 */
export function allocate(
  activity: Iterable<ActivityEntry>,
  unattributed: Iterable<UnattributedEntry>,
  config: AttributionConfig,
  opts: AllocateOptions = {},
): AllocationResult {
  const model = opts.model ?? (config.model === "direct" ? undefined : config.model);
  if (!model) throw new Error("internal: allocate() needs an allocation model (activity or weighted); direct attribution allocates nothing");

  // window → metric → tenant → model → {quantity units, calls}
  const byWindow = new Map<string, Map<string, { units: bigint; calls: bigint }>>();
  const ineligible = new Set([...config.tenants.exclude, ...config.unattributed.customers]);
  const listed = config.tenants.from === "list" ? new Set(config.tenants.list) : undefined;
  for (const a of activity) {
    if (ineligible.has(a.tenant) || (listed && !listed.has(a.tenant))) continue;
    const k = key(a.window, a.metric);
    const tenants = byWindow.get(k) ?? new Map<string, { units: bigint; calls: bigint }>();
    byWindow.set(k, tenants);
    const tk = key(a.tenant, a.model);
    const cur = tenants.get(tk) ?? { units: 0n, calls: 0n };
    cur.units += toUnits(a.quantity);
    cur.calls += BigInt(a.calls);
    tenants.set(tk, cur);
  }

  const groups = new Map<string, { entry: UnattributedEntry; units: bigint; records: number; platforms: Set<Platform>; valueProperties: Set<string> }>();
  for (const u of unattributed) {
    const k = key(u.window, u.metric, u.model, u.type);
    const g = groups.get(k) ?? { entry: u, units: 0n, records: 0, platforms: new Set<Platform>(), valueProperties: new Set<string>() };
    g.units += toUnits(u.quantity);
    g.records += u.records;
    g.platforms.add(u.platform);
    if (u.valueProperty !== undefined) g.valueProperties.add(u.valueProperty);
    groups.set(k, g);
  }

  const weightOf = (m: string): bigint => (model === "activity" ? SCALE : toUnits(config.weights[m] ?? config.defaultWeight));
  const activityCache = new Map<string, [string, bigint][]>();
  const tenantActivity = (window: string, metric: string): [string, bigint][] => {
    const k = key(window, metric);
    const cached = activityCache.get(k);
    if (cached) return cached;
    const sums = new Map<string, bigint>();
    for (const [tk, v] of byWindow.get(k) ?? []) {
      const [tenant, m] = tk.split(SEP) as [string, string];
      const measure = config.activity === "calls" ? v.calls * SCALE : v.units;
      sums.set(tenant, (sums.get(tenant) ?? 0n) + measure * weightOf(m));
    }
    const list = [...sums.entries()].sort(([a], [b]) => compare(a, b));
    activityCache.set(k, list);
    return list;
  };

  const events: BillableEvent[] = [];
  const unallocated: Unallocated[] = [];
  for (const k of [...groups.keys()].sort(compare)) {
    const g = groups.get(k)!;
    const { window, metric, model: m, type } = g.entry;
    if (g.units === 0n) continue;
    const shares = tenantActivity(window, metric);
    const total = shares.reduce((a, [, w]) => a + w, 0n);
    if (total === 0n) {
      unallocated.push({
        window, metric, model: m, type, quantity: fromUnits(g.units), records: g.records,
        reason: shares.length === 0 ? "no tenant activity in the window" : "the active tenants' activity weighs 0 (every model they used has weight 0)",
      });
      continue;
    }
    // Split in the coarsest decimal unit that still expresses the total exactly.
    let step = SCALE;
    while (g.units % step !== 0n) step /= 10n;
    const parts = largestRemainder(g.units / step, shares);
    const discriminator = `alloc:${window}:${escape(metric)}:${escape(m)}:${escape(type)}`;
    const platform = [...g.platforms].sort(compare)[0]!;
    const valueProperty = [...g.valueProperties].sort(compare)[0];
    for (const [tenant, n] of parts) {
      if (n === 0n) continue;
      const recordId = opts.scope ? `${escape(opts.scope)}:${tenant}` : tenant;
      events.push({
        id: idempotencyKey({ platform: "allocation", recordId, mapping: config.name, metric, discriminator, split: 0 }),
        customer: tenant,
        metric,
        value: fromUnits(n * step),
        timestamp: windowStart(window),
        properties: { ...(m ? { model: m } : {}), ...(type ? { type } : {}), allocated: true, allocation: model },
        source: { platform, record_id: `${discriminator}:${tenant}`, trace_id: "" },
        mapping: config.name,
        ...(valueProperty === undefined ? {} : { valueProperty }),
      });
    }
  }
  return { model, events, unallocated };
}

/**
 * Splits `n` whole units in proportion to the weights (all > 0 in sum): each gets the floor of
 * its exact share, and the units left over go one each to the largest remainders, ties to the
 * smaller id. Shares sum to `n` exactly; a weight of 0 never receives anything.
 */
export function largestRemainder(n: bigint, weights: readonly (readonly [string, bigint])[]): [string, bigint][] {
  const sum = weights.reduce((a, [, w]) => a + w, 0n);
  if (sum <= 0n) throw new Error("internal: largestRemainder needs a positive total weight");
  const rows = weights.map(([id, w]) => ({ id, share: (n * w) / sum, rem: (n * w) % sum }));
  let left = n - rows.reduce((a, r) => a + r.share, 0n);
  const order = [...rows].sort((a, b) => (a.rem === b.rem ? compare(a.id, b.id) : a.rem > b.rem ? -1 : 1));
  for (const r of order) {
    if (left === 0n) break;
    r.share += 1n;
    left -= 1n;
  }
  return rows.map((r) => [r.id, r.share]);
}

/** A quantity as exact 1e-9 units (more decimals are rounded at the 9th). */
export function toUnits(v: number): bigint {
  if (!Number.isFinite(v)) throw new Error(`internal: quantity ${v} is not finite`);
  if (Number.isInteger(v)) return BigInt(v) * SCALE;
  const negative = v < 0;
  const [int, frac = ""] = Math.abs(v).toFixed(9).split(".") as [string, string?];
  const units = BigInt(int) * SCALE + BigInt(frac.padEnd(9, "0"));
  return negative ? -units : units;
}

/** 1e-9 units back to a number (the closest double to the exact decimal). */
export function fromUnits(u: bigint): number {
  const negative = u < 0n;
  const a = negative ? -u : u;
  const int = a / SCALE;
  const frac = a % SCALE;
  const text = frac === 0n ? int.toString() : `${int}.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return Number(negative ? `-${text}` : text);
}

const SEP = "\u0000";
const key = (...parts: string[]): string => parts.join(SEP);

/** Locale-independent order, so ids and tie-breaks do not depend on the machine. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keeps the discriminator's `:` separators unambiguous. */
function escape(s: string): string {
  return s.replace(/[%:]/g, (c) => (c === "%" ? "%25" : "%3A"));
}
