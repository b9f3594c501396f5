import type { Destination, UsageTotal } from "../model/index.js";

export type RowStatus = "matched" | "missing" | "excess";

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
}

export interface Report extends Omit<ReportInput, "sent" | "held"> {
  ok: boolean;
  summary: { rows: number; matched: number; missing: number; excess: number; sent: number; held: number };
  customers: { customer: string; sent: number; held: number; difference: number; status: RowStatus }[];
  rows: ReconcileRow[];
}

/** Values are token counts or money; allow only float noise from summing. */
export function sameQuantity(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function statusOf(sent: number, held: number): RowStatus {
  if (sameQuantity(sent, held)) return "matched";
  return held < sent ? "missing" : "excess";
}

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
  for (const r of list) {
    r.difference = r.held - r.sent;
    r.status = statusOf(r.sent, r.held);
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
    // A customer is only "matched" if every one of its rows is.
    status: list.filter((r) => r.customer === customer).find((r) => r.status !== "matched")?.status ?? ("matched" as RowStatus),
  }));
  const count = (s: RowStatus) => list.filter((r) => r.status === s).length;
  const { sent: _s, held: _h, ...meta } = input;
  return {
    ...meta,
    ok: list.every((r) => r.status === "matched"),
    summary: {
      rows: list.length, matched: count("matched"), missing: count("missing"), excess: count("excess"),
      sent: list.reduce((a, r) => a + r.sent, 0), held: list.reduce((a, r) => a + r.held, 0),
    },
    customers,
    rows: list,
  };
}
