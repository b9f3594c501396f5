import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Ledger } from "../ledger/ledger.js";
import type { Destination } from "../model/index.js";
import type { BillingSink, ReadTotalsQuery } from "../sinks/sink.js";
import { reconcile, type Report, type SyncSummary } from "./reconcile.js";
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
}

export async function runReconcile(o: RunReconcileOptions): Promise<Report> {
  const window = dayWindow(o.from, o.to);
  const sent = await o.ledger.totals(o.destination, window.from, window.to);
  const customers = [...new Set(sent.map((t) => t.customer))].sort();
  const known = new Map(o.metrics.map((m) => [m.metric, m]));
  for (const t of sent) if (!known.has(t.metric)) known.set(t.metric, { metric: t.metric, valueProperty: "value" });
  const held = customers.length
    ? await o.sink.readTotals({ from: window.from, to: window.to, customers, metrics: [...known.values()] })
    : [];
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
  });
}

export async function writeReport(report: Report, dir: string): Promise<{ markdown: string; json: string }> {
  await mkdir(dir, { recursive: true });
  const markdown = join(dir, "report.md");
  const json = join(dir, "report.json");
  await writeFile(markdown, renderMarkdown(report));
  await writeFile(json, renderJson(report));
  return { markdown, json };
}
