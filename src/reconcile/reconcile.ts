import type { Destination, Exclusions, UsageTotal } from "../model/index.js";

/**
 * - matched: the biller holds exactly what was delivered.
 * - missing / excess: it holds less / more.
 * - unbillable: held or not, it will never be invoiced (Lago has no billable metric for the code,
 *   or the customer has no subscription): the destination accepted events it ignores.
 * - pending: missing by no more than what was delivered within the destination's ingestion lag
 *   (`recent`); re-run later. Not a difference for `ok`.
 * - late: matched, but part of it is usage before the customer's open billing period: stored,
 *   yet outside the invoice being built (a finalized period will not absorb it).
 */
export type RowStatus = "matched" | "missing" | "excess" | "unbillable" | "pending" | "late";

export const ROW_STATUSES: readonly RowStatus[] = ["matched", "missing", "excess", "unbillable", "pending", "late"];

/** One customer × metric × model line: what the ledger says we delivered vs what the biller holds. */
export interface ReconcileRow {
  customer: string;
  metric: string;
  model: string;
  sent: number;
  sentEvents: number;
  held: number;
  /** null when the destination cannot count events (OpenMeter meter queries return sums only). */
  heldEvents: number | null;
  /** held − sent: negative = biller has less (missing), positive = more (double billing). */
  difference: number;
  status: RowStatus;
  /** Why a row is unbillable, pending or late (absent otherwise). */
  reason?: string;
  /** Sent value with usage time before the customer's open billing period (absent when none). */
  late?: number;
}

/** A customer or metric (or both) whose events the destination stores without ever billing them. */
export interface UnbillableScope {
  customer?: string;
  metric?: string;
  reason: string;
}

export interface ReportInput {
  destination: Destination;
  /** The window as asked, and as compared (ledger aggregates are per UTC day). */
  requested: { from: string; to: string };
  window: { from: string; to: string };
  sent: UsageTotal[];
  held: UsageTotal[];
  deadLetters: { count: number; byReason: Record<string, number> };
  generatedAt: string;
  /** Recent syncs to this destination with what each input gave (records, events, quarantined, notes). */
  syncs?: SyncSummary[];
  /** From the destination's healthcheck: scopes whose events will never bill. */
  unbillable?: UnbillableScope[];
  /** Delivered within the destination's ingestion lag (`pendingMinutes`): a shortfall up to this is pending. */
  recent?: UsageTotal[];
  pendingMinutes?: number;
  /** Sent totals (from the ledger) with usage before each customer's open billing period. */
  lateSent?: UsageTotal[];
  /** Each customer's open billing period start, for the report. */
  periods?: { customer: string; from: string }[];
  /**
   * What was not billed and why: cache savings, failed calls, unattributed and quarantined
   * records (from re-reading the inputs over the window, or summed over recent syncs).
   */
  exclusions?: Exclusions;
  /** Per customer × metric: the open billing period as the biller counts it vs the ledger (Lago current_usage). */
  periodUsage?: PeriodUsageInput[];
  /** Per differing row, its events (re-mapped from the inputs) looked up at the destination by id. */
  eventChecks?: EventCheck[];
  /** The attribution back-test over the window, when an attribution config is present. */
  allocation?: AllocationSummary;
}

/** The audit trail of one differing row: which of its events the destination holds, by id. */
export interface EventCheck {
  customer: string;
  metric: string;
  model: string;
  status: RowStatus;
  /** Events of this row in the inputs (within the window). */
  events: number;
  /** Of those, found at the destination by id. */
  held: number;
  /** Ids the destination does not hold (at most 100; `absentCount` has them all). Look one up with `tracebill explain ID`. */
  absent: string[];
  absentCount: number;
  /** A few ids of the row (held or not), for `tracebill explain`. */
  sample: string[];
}

/** What an allocation model would change per tenant (attribution back-test), for finance to weigh. */
export interface AllocationSummary {
  model: string;
  config: string;
  unattributed: { metric: string; total: number; allocated: number; unallocated: number }[];
  rows: { tenant: string; metric: string; direct: number; allocated: number; difference: number; share: number }[];
}

export interface PeriodUsageInput {
  customer: string;
  metric: string;
  /** The open period, and the whole UTC days the ledger was summed over to compare with it. */
  from: string;
  to: string;
  ledgerDays: { from: string; to: string };
  sent: number;
  sentEvents: number;
  /** current_usage units and events_count of the metric's charge. */
  counted: number;
  countedEvents: number;
  /** Charges on the metric (more than one: the first is compared). */
  charges: number;
  /** Recorded within the ingestion lag (Lago caches current usage per charge). */
  recent: number;
}

export interface PeriodUsageRow extends Omit<PeriodUsageInput, "recent"> {
  /** counted − sent. */
  difference: number;
  status: "matched" | "differs" | "pending";
}

export interface SyncSummary {
  syncId: string;
  startedAt: string;
  events: number;
  delivered: number;
  already: number;
  dead: number;
  skipped: number;
  quarantined: number;
  parked: number;
  inputs: { input: string; records: number; events: number; quarantined: number; notes: string[] }[];
  exclusions?: Exclusions;
}

export interface Report extends Omit<ReportInput, "sent" | "held" | "recent" | "lateSent" | "periodUsage"> {
  /** No row differs: every row is matched or pending. */
  ok: boolean;
  /** Rows per status (every status present, zeros included). */
  statusCounts: Record<RowStatus, number>;
  summary: { rows: number; matched: number; missing: number; excess: number; sent: number; held: number };
  customers: { customer: string; sent: number; held: number; difference: number; status: RowStatus }[];
  rows: ReconcileRow[];
  periodUsage?: PeriodUsageRow[];
}

/** The scope that makes a customer × metric unbillable (a scope names a customer, a metric, or both). */
export function unbillableScopeOf(scopes: readonly UnbillableScope[], customer: string, metric: string): UnbillableScope | undefined {
  return scopes.find((u) => (u.customer !== undefined || u.metric !== undefined) && (u.customer === undefined || u.customer === customer) && (u.metric === undefined || u.metric === metric));
}

/** Values are token counts or money; allow only float noise from summing. */
export function sameQuantity(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function statusOf(sent: number, held: number): RowStatus {
  if (sameQuantity(sent, held)) return "matched";
  return held < sent ? "missing" : "excess";
}

/** Which status a customer shows when its rows differ. */
const SEVERITY: Record<RowStatus, number> = { matched: 0, pending: 1, late: 2, unbillable: 3, excess: 4, missing: 5 };

const fmtN = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 6 });

const rowKey = (t: { customer: string; metric: string; model: string }) => `${t.customer}\u001f${t.metric}\u001f${t.model}`;

/** Pure diff of ledger totals against destination totals. */
export function reconcile(input: ReportInput): Report {
  const rows = new Map<string, ReconcileRow>();
  const get = (t: UsageTotal) => {
    const k = rowKey(t);
    let r = rows.get(k);
    if (!r) {
      r = { customer: t.customer, metric: t.metric, model: t.model, sent: 0, sentEvents: 0, held: 0, heldEvents: 0, difference: 0, status: "matched" };
      rows.set(k, r);
    }
    return r;
  };
  for (const t of input.sent) {
    const r = get(t);
    r.sent += t.value;
    r.sentEvents += t.events;
  }
  for (const t of input.held) {
    const r = get(t);
    r.held += t.value;
    r.heldEvents = t.events < 0 || r.heldEvents === null ? null : r.heldEvents + t.events;
  }
  const list = [...rows.values()].sort((a, b) => a.customer.localeCompare(b.customer) || a.metric.localeCompare(b.metric) || a.model.localeCompare(b.model));
  const sumBy = (ts: UsageTotal[] | undefined) => {
    const m = new Map<string, number>();
    for (const t of ts ?? []) m.set(rowKey(t), (m.get(rowKey(t)) ?? 0) + t.value);
    return m;
  };
  const recent = sumBy(input.recent);
  const late = sumBy(input.lateSent);
  const periodOf = new Map((input.periods ?? []).map((p) => [p.customer, p.from]));
  for (const r of list) {
    r.difference = r.held - r.sent;
    r.status = statusOf(r.sent, r.held);
    const k = rowKey(r);
    const lateValue = late.get(k) ?? 0;
    if (lateValue > 0) r.late = lateValue;
    const scope = unbillableScopeOf(input.unbillable ?? [], r.customer, r.metric);
    const fresh = recent.get(k) ?? 0;
    if (scope) {
      r.status = "unbillable";
      r.reason = scope.reason;
    } else if (r.status === "missing" && fresh > 0 && -r.difference <= fresh + 1e-9 * Math.max(1, fresh)) {
      r.status = "pending";
      r.reason = `${fmtN(-r.difference)} short, within the ${fmtN(fresh)} delivered in the last ${input.pendingMinutes ?? "?"} minutes (ingestion lag): re-run later`;
    } else if (r.status === "matched" && lateValue > 0) {
      r.status = "late";
      r.reason = `${fmtN(lateValue)} of it is usage before the open billing period (from ${periodOf.get(r.customer) ?? "?"}): held, but outside the invoice being built`;
    }
  }
  const byCustomer = new Map<string, { sent: number; held: number }>();
  for (const r of list) {
    const c = byCustomer.get(r.customer) ?? { sent: 0, held: 0 };
    c.sent += r.sent;
    c.held += r.held;
    byCustomer.set(r.customer, c);
  }
  const customers = [...byCustomer.entries()].map(([customer, c]) => ({
    customer, sent: c.sent, held: c.held, difference: c.held - c.sent,
    // A customer is only "matched" if every one of its rows is; otherwise its most serious row status.
    status: list.filter((r) => r.customer === customer).reduce<RowStatus>((worst, r) => (SEVERITY[r.status] > SEVERITY[worst] ? r.status : worst), "matched"),
  }));
  const count = (s: RowStatus) => list.filter((r) => r.status === s).length;
  const { sent: _s, held: _h, recent: _r, lateSent: _l, periodUsage: periodIn, ...meta } = input;
  const periodUsage = periodIn?.map(({ recent: fresh, ...p }): PeriodUsageRow => {
    const difference = p.counted - p.sent;
    const status = sameQuantity(p.counted, p.sent) ? "matched" : difference < 0 && -difference <= fresh + 1e-9 * Math.max(1, fresh) ? "pending" : "differs";
    return { ...p, difference, status };
  });
  return {
    ...meta,
    ...(periodUsage ? { periodUsage } : {}),
    ok: list.every((r) => r.status === "matched" || r.status === "pending") && (periodUsage ?? []).every((p) => p.status !== "differs"),
    statusCounts: Object.fromEntries(ROW_STATUSES.map((st) => [st, count(st)])) as Record<RowStatus, number>,
    summary: {
      rows: list.length, matched: count("matched"), missing: count("missing"), excess: count("excess"),
      sent: list.reduce((a, r) => a + r.sent, 0), held: list.reduce((a, r) => a + r.held, 0),
    },
    customers,
    rows: list,
  };
}
