import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Ledger } from "../ledger/ledger.js";
import type { Destination } from "../model/index.js";
import type { BillingSink, OpenPeriod, ReadTotalsQuery } from "../sinks/sink.js";
import { emptyExclusions, mergeExclusions, type Exclusions, type UsageTotal } from "../model/index.js";
import { reconcile, unbillableScopeOf, type PeriodUsageInput, type Report, type SyncSummary, type UnbillableScope } from "./reconcile.js";
import { renderCsv } from "./report/csv.js";
import { renderHtml } from "./report/html.js";
import { renderJson } from "./report/json.js";
import { renderMarkdown } from "./report/markdown.js";

/** Whole UTC days covering [from, to): the granularity of the ledger's aggregates. */
export function dayWindow(from: Date, to: Date): { from: Date; to: Date } {
  const f = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()));
  const t0 = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate()));
  const t = t0.getTime() < to.getTime() ? new Date(t0.getTime() + 86_400_000) : t0;
  return { from: f, to: t };
}

export interface RunReconcileOptions {
  destination: Destination;
  from: Date;
  to: Date;
  ledger: Ledger;
  sink: BillingSink;
  /** Metrics the mapping set emits, with their quantity property (needed to read Lago events back). */
  metrics: ReadTotalsQuery["metrics"];
  syncs?: SyncSummary[];
  now?: Date;
  /**
   * Ingestion lag of the destination in minutes (default 15 OpenMeter, 1 Lago), for `pending`:
   * a shortfall up to what the ledger recorded within it (`recent`, default: the ledger's
   * `recentTotals`) is pending, not missing.
   */
  pendingMinutes?: number;
  recent?: UsageTotal[];
  /** Ask the destination which customers/metrics will never bill (healthcheck). Default true. */
  checkBillable?: boolean;
  /** What the inputs held that was not billed (from re-reading them); default: summed over `syncs`. */
  exclusions?: Exclusions;
}

export const DEFAULT_PENDING_MINUTES = { lago: 1, openmeter: 15 } as const;

/** unknown metric codes and customers without a subscription, from the sink's healthcheck. */
async function unbillableScopes(o: RunReconcileOptions, metrics: ReadTotalsQuery["metrics"], customers: string[]): Promise<UnbillableScope[]> {
  const wire = (m: ReadTotalsQuery["metrics"][number]) => (o.destination === "lago" ? m.destinations?.lago?.code : m.destinations?.openmeter?.type) ?? m.metric;
  const ours = new Map(metrics.map((m) => [wire(m), m.metric]));
  const health = await o.sink.healthcheck([...ours.keys()], customers);
  const out: UnbillableScope[] = [];
  for (const i of health.issues) {
    if (i.kind === "unknown_metric" && i.metric !== undefined) out.push({ metric: ours.get(i.metric) ?? i.metric, reason: i.message });
    else if (i.kind === "no_subscription" && i.customer !== undefined) out.push({ customer: i.customer, reason: i.message });
  }
  return out;
}

/**
 * The biller's own count of each open period (Lago current_usage) against the ledger's totals
 * over the same whole UTC days, per customer × metric (all models): a difference here is what
 * the invoice being built will get wrong, even when every event is present.
 */
async function periodUsageOf(ledgerTotals: LedgerTotals, periods: OpenPeriod[], metrics: ReadTotalsQuery["metrics"], unbillable: UnbillableScope[], recent: UsageTotal[]): Promise<PeriodUsageInput[]> {
  const out: PeriodUsageInput[] = [];
  for (const p of periods) {
    if (!p.usage) continue;
    const days = dayWindow(new Date(p.from), new Date(p.to));
    const sent = (await ledgerTotals(days.from, days.to)).filter((t) => t.customer === p.customer);
    for (const m of metrics) {
      if (unbillableScopeOf(unbillable, p.customer, m.metric)) continue;
      const mine = sent.filter((t) => t.metric === m.metric);
      const code = m.destinations?.lago?.code ?? m.metric;
      const charge = p.usage.find((u) => u.code === code);
      if (!mine.length && !charge) continue;
      out.push({
        customer: p.customer, metric: m.metric, from: p.from, to: p.to,
        ledgerDays: { from: days.from.toISOString(), to: days.to.toISOString() },
        sent: mine.reduce((a, t) => a + t.value, 0), sentEvents: mine.reduce((a, t) => a + t.events, 0),
        counted: charge?.units ?? 0, countedEvents: charge?.events ?? 0, charges: charge?.charges ?? 0,
        recent: recent.filter((t) => t.customer === p.customer && t.metric === m.metric).reduce((a, t) => a + t.value, 0),
      });
    }
  }
  return out;
}

/** Without figures from the inputs: what the recent syncs counted as not billed, summed. */
function syncExclusions(syncs: SyncSummary[] | undefined): { exclusions?: Exclusions } {
  const withFigures = (syncs ?? []).filter((s) => s.exclusions);
  if (!withFigures.length) return {};
  const since = withFigures[0]!.startedAt.slice(0, 10);
  const total = emptyExclusions(`${withFigures.length} sync${withFigures.length === 1 ? "" : "s"} to this destination since ${since} (whole inputs, not only this window)`);
  for (const s of withFigures) mergeExclusions(total, s.exclusions!);
  return { exclusions: total };
}

/** The ledger's totals over [from, to), read once per span however many customers ask (their periods usually coincide). */
type LedgerTotals = (from: Date, to: Date) => Promise<UsageTotal[]>;

function memoLedgerTotals(o: RunReconcileOptions): LedgerTotals {
  const read = new Map<string, Promise<UsageTotal[]>>();
  return (from, to) => {
    const key = `${from.toISOString()}/${to.toISOString()}`;
    let totals = read.get(key);
    if (!totals) read.set(key, (totals = o.ledger.totals(o.destination, from, to)));
    return totals;
  };
}

export async function runReconcile(o: RunReconcileOptions): Promise<Report> {
  const window = dayWindow(o.from, o.to);
  const ledgerTotals = memoLedgerTotals(o);
  const sent = await ledgerTotals(window.from, window.to);
  const customers = [...new Set(sent.map((t) => t.customer))].sort();
  const known = new Map(o.metrics.map((m) => [m.metric, m]));
  for (const t of sent) if (!known.has(t.metric)) known.set(t.metric, { metric: t.metric, valueProperty: "value" });
  const held = customers.length
    ? await o.sink.readTotals({ from: window.from, to: window.to, customers, metrics: [...known.values()] })
    : [];
  const unbillable = customers.length && o.checkBillable !== false ? await unbillableScopes(o, [...known.values()], customers) : [];
  // Late: ledger totals of the whole usage days before each customer's open billing period.
  const periods = customers.length && o.sink.openPeriods ? await o.sink.openPeriods(customers) : [];
  const lateSent: UsageTotal[] = [];
  for (const p of periods) {
    const start = dayWindow(new Date(p.from), new Date(p.from)).from;
    const end = start < window.to ? start : window.to;
    if (end <= window.from) continue;
    lateSent.push(...(await ledgerTotals(window.from, end)).filter((t) => t.customer === p.customer));
  }
  const pendingMinutes = o.pendingMinutes ?? DEFAULT_PENDING_MINUTES[o.destination];
  const recent = o.recent ?? (customers.length && o.ledger.recentTotals && pendingMinutes > 0 ? await o.ledger.recentTotals(o.destination, pendingMinutes) : []);
  const periodUsage = await periodUsageOf(ledgerTotals, periods, [...known.values()], unbillable, recent);
  const letters = await o.ledger.deadLetters(o.destination, 100_000);
  const inWindow = letters.filter((l) => {
    const t = Date.parse(l.event.timestamp);
    return t >= window.from.getTime() && t < window.to.getTime();
  });
  const byReason: Record<string, number> = {};
  for (const l of inWindow) byReason[l.reason] = (byReason[l.reason] ?? 0) + 1;
  return reconcile({
    destination: o.destination,
    requested: { from: o.from.toISOString(), to: o.to.toISOString() },
    window: { from: window.from.toISOString(), to: window.to.toISOString() },
    sent,
    held,
    deadLetters: { count: inWindow.length, byReason },
    generatedAt: (o.now ?? new Date()).toISOString(),
    ...(o.syncs ? { syncs: o.syncs } : {}),
    unbillable,
    recent,
    pendingMinutes,
    lateSent,
    periods: periods.map((p) => ({ customer: p.customer, from: p.from })),
    ...(periodUsage.length ? { periodUsage } : {}),
    ...(o.exclusions ? { exclusions: o.exclusions } : syncExclusions(o.syncs)),
  });
}

export async function writeReport(report: Report, dir: string): Promise<{ markdown: string; json: string; csv: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const markdown = join(dir, "report.md");
  const json = join(dir, "report.json");
  const csv = join(dir, "report.csv");
  const html = join(dir, "report.html");
  await writeFile(markdown, renderMarkdown(report));
  await writeFile(json, renderJson(report));
  await writeFile(csv, renderCsv(report));
  await writeFile(html, renderHtml(report));
  return { markdown, json, csv, html };
}
