import { evaluateRecord, formatCompact, loadMappingSet, loadMappingSetWithWarnings, type MappingSet } from "../../mapping/index.js";
import type { BillableEvent, Quarantined, Skip, TraceRecord } from "../../model/index.js";
import { UserError } from "../../model/index.js";
import { table } from "../table.js";
import { mapInputs, type MappedItem } from "../../pipeline/map-inputs.js";
import { allocationFor } from "./attribution.js";
import { readInputs } from "../../sources/registry.js";
import { overrideOf, resolveInputs, type InputOptions } from "../inputs.js";

export const PREVIEW_FORMATS = ["table", "json", "csv", "totals-json"] as const;
export type PreviewFormat = (typeof PREVIEW_FORMATS)[number];

export interface PreviewOptions extends InputOptions {
  mapping: string;
  format: string;
  /**
   * Baseline mapping file or directory: both sets run over the same inputs (read once) and the
   * report is what `mapping` changes against it, per customer and metric.
   */
  against?: string;
  /** Event properties to break the totals down by (e.g. "model,type"); default: customer × metric only. */
  by?: string | readonly string[];
  /** Attribution config (default: attribution.yaml beside the mappings). */
  attribution?: string;
  /** direct | activity | weighted: how usage that names no tenant is billed (default: the config's). */
  allocate?: string;
}

/**
 * Dry run: what would be billed, with no Redis and no network. `json` is the event-level document
 * (unchanged); `table`, `csv` and `totals-json` give totals per customer × metric and counts of
 * skipped and quarantined records by reason; with `against`, before / after / difference.
 */
export async function previewCommand(inputs: string[], opts: PreviewOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (!(PREVIEW_FORMATS as readonly string[]).includes(opts.format)) {
    throw new UserError(`--format must be one of ${PREVIEW_FORMATS.join(", ")} (got "${opts.format}")`);
  }
  const format = opts.format as PreviewFormat;
  const by = byOf(opts.by);
  if (by.length && format === "json" && opts.against === undefined) {
    throw new UserError("--by groups totals: use it with --format table, csv or totals-json (json lists every event)");
  }
  const { set: mappings, warnings } = await loadMappingSetWithWarnings(opts.mapping);
  // On stderr: the output may be piped as CSV/JSON; a warning still must not go unseen.
  for (const w of warnings) process.stderr.write(`warning: ${formatCompact(w)}\n`);
  const baseline = opts.against === undefined ? undefined : await loadMappingSet(opts.against);
  const files = await resolveInputs(inputs);
  const override = overrideOf(opts);
  const allocation = await allocationFor(opts);
  if (baseline) return compare(files, override, { before: baseline, after: mappings, by, format, out, paths: { before: opts.against!, after: opts.mapping } });
  if (format === "json") return eventsDocument(allocation(mapInputs(files, mappings, { override }), mappings), out);

  const billed = new Tally(by);
  const read = new InputTally();
  for await (const item of allocation(mapInputs(files, mappings, { override }), mappings)) {
    if (item.kind === "event") billed.event(item.event);
    else if (item.kind === "skip") billed.skip(item.skip);
    else if (item.kind === "quarantine") read.quarantine(item.entry);
    else if (item.kind === "note") read.note(item.input, item.note);
  }
  if (format === "table") out.write(totalsTable(mappings, billed, read));
  else {
    for (const n of read.notes) process.stderr.write(`note: ${n}\n`);
    out.write(format === "csv" ? totalsCsv(billed, read) : `${JSON.stringify(totalsDocument(mappings, billed, read), null, 2)}\n`);
  }
  return 0;
}

/** `--format json`: every event, skip and quarantine entry; events stream out as they are produced. */
async function eventsDocument(items: AsyncIterable<MappedItem>, out: NodeJS.WritableStream): Promise<number> {
  const skipped: Skip[] = [];
  const quarantined: Quarantined[] = [];
  const fresh = freshIds();
  out.write('{"events":[');
  let first = true;
  for await (const item of items) {
    if (item.kind === "event") {
      const e = item.event;
      if (!fresh(e.id)) continue;
      const doc = { id: e.id, customer: e.customer, metric: e.metric, value: e.value, timestamp: e.timestamp, properties: e.properties, source: e.source, mapping: e.mapping };
      out.write((first ? "\n" : ",\n") + JSON.stringify(doc));
      first = false;
    } else if (item.kind === "skip") skipped.push({ source_record_id: item.skip.source_record_id, reason: item.skip.reason });
    else if (item.kind === "quarantine") quarantined.push(item.entry);
    else if (item.kind === "note") process.stderr.write(`note: ${item.input}: ${item.note}\n`);
  }
  out.write(`\n],\n"skipped":${JSON.stringify(skipped)},\n"quarantined":${JSON.stringify(quarantined)}}\n`);
  return 0;
}

/**
 * The same call can be traced twice (overlapping exports, a gateway and an SDK): its events share
 * one id and the ledger bills it once, so the preview counts it once too.
 */
function freshIds(): (id: string) => boolean {
  const seen = new Set<string>();
  return (id) => (seen.has(id) ? false : (seen.add(id), true));
}

function byOf(by: PreviewOptions["by"]): string[] {
  const names = (typeof by === "string" ? by.split(",") : [...(by ?? [])]).map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new UserError(`--by takes event property names separated by commas, e.g. model,type (got "${n}")`);
  }
  return [...new Set(names)];
}

// ---------------------------------------------------------------------------------------------
// Tallies

interface TotalRow {
  customer: string;
  metric: string;
  /** Values of the --by properties ("" when the event has none). */
  by: string[];
  value: number;
  events: number;
}

/** Sums kept to 10 decimals so money-valued metrics do not print 0.30000000000000004. */
function add(a: number, b: number): number {
  return Number((a + b).toFixed(10));
}

/** What one mapping set bills and skips. */
class Tally {
  readonly rows = new Map<string, TotalRow>();
  readonly skipped = new Map<string, number>();
  events = 0;
  skips = 0;
  private readonly fresh = freshIds();

  constructor(readonly by: readonly string[]) {}

  event(e: BillableEvent): void {
    if (!this.fresh(e.id)) return;
    const by = this.by.map((p) => (e.properties[p] === undefined ? "" : String(e.properties[p])));
    const key = rowKey(e.customer, e.metric, by);
    const row = this.rows.get(key) ?? { customer: e.customer, metric: e.metric, by, value: 0, events: 0 };
    row.value = add(row.value, e.value);
    row.events += 1;
    this.rows.set(key, row);
    this.events += 1;
  }

  skip(s: Skip): void {
    const reason = skipGroup(s.reason);
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    this.skips += 1;
  }

  sortedRows(): TotalRow[] {
    return [...this.rows.values()].sort(byRow);
  }
}

const rowKey = (customer: string, metric: string, by: readonly string[]) => [customer, metric, ...by].join("\u001f");

function byRow(a: { customer: string; metric: string; by: string[] }, b: { customer: string; metric: string; by: string[] }): number {
  return a.customer.localeCompare(b.customer) || a.metric.localeCompare(b.metric) || a.by.join("\u001f").localeCompare(b.by.join("\u001f"));
}

/** Per-record details (which trace never arrived) would give every record its own line. */
function skipGroup(reason: string): string {
  return reason.replace(/ \(its trace \S+ never arrived in these inputs\)$/, " (its trace never arrived in these inputs)");
}

/** `invalid JSON: Unterminated string … at position 240` → `invalid JSON`: the kind, not the spot. */
function quarantineGroup(reason: string): string {
  const colon = reason.indexOf(": ");
  return colon > 0 ? reason.slice(0, colon) : reason;
}

const MAX_LISTED = 50;

/** What reading the inputs gave besides records: the same whichever mapping set runs. */
class InputTally {
  readonly byReason = new Map<string, number>();
  readonly listed: Quarantined[] = [];
  readonly notes: string[] = [];
  count = 0;

  quarantine(q: Quarantined): void {
    const reason = quarantineGroup(q.reason);
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    if (this.listed.length < MAX_LISTED) this.listed.push(q);
    this.count += 1;
  }

  note(input: string, note: string): void {
    this.notes.push(`${input}: ${note}`);
  }
}

/** Most frequent first, then by text, so output is stable. */
function byCount(m: ReadonlyMap<string, number>): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

// ---------------------------------------------------------------------------------------------
// One mapping set: totals

const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 10 });
const setName = (s: MappingSet) => s.mappings.map((m) => `${m.name}@${m.version}`).join(", ");
const capital = (p: string) => p.charAt(0).toUpperCase() + p.slice(1);

function totalsTable(mappings: MappingSet, billed: Tally, read: InputTally): string {
  const parts: string[] = [];
  const t = table(["Customer", "Metric", ...billed.by.map(capital), "Quantity", "Events"], ["left", "left", ...billed.by.map(() => "left" as const), "right", "right"]);
  for (const r of billed.sortedRows()) t.push([r.customer, r.metric, ...r.by.map((v) => v || "—"), num(r.value), String(r.events)]);
  parts.push(`Would bill (mapping set ${setName(mappings)}):\n${t.toString()}`);
  if (billed.skipped.size) {
    const st = table(["Skipped (not billed) — reason", "Records"], ["left", "right"]);
    for (const [reason, n] of byCount(billed.skipped)) st.push([reason, String(n)]);
    parts.push(st.toString());
  }
  parts.push(...quarantineTables(read));
  for (const n of read.notes) parts.push(`note: ${n}`);
  parts.push(`${billed.events} events, ${billed.skips} skipped, ${read.count} quarantined.`);
  return parts.join("\n") + "\n";
}

function quarantineTables(read: InputTally): string[] {
  if (!read.count) return [];
  const counts = table(["Quarantined (unreadable) — reason", "Records"], ["left", "right"]);
  for (const [reason, n] of byCount(read.byReason)) counts.push([reason, String(n)]);
  const qt = table(["Quarantined input", "Position", "Reason"], ["left", "left", "left"]);
  for (const q of read.listed) qt.push([q.input, q.position, q.reason]);
  const more = read.count > read.listed.length ? [`… and ${read.count - read.listed.length} more quarantined records`] : [];
  return [counts.toString(), qt.toString(), ...more];
}

function totalsDocument(mappings: MappingSet, billed: Tally, read: InputTally) {
  return {
    mappingSet: setDoc(mappings),
    totals: billed.sortedRows().map((r) => ({ customer: r.customer, metric: r.metric, ...byDoc(billed.by, r.by), value: r.value, events: r.events })),
    events: billed.events,
    skipped: { records: billed.skips, byReason: byCount(billed.skipped).map(([reason, records]) => ({ reason, records })) },
    quarantined: { records: read.count, byReason: byCount(read.byReason).map(([reason, records]) => ({ reason, records })) },
  };
}

const setDoc = (s: MappingSet) => ({ version: s.version, mappings: s.mappings.map((m) => ({ name: m.name, version: m.version, file: m.file })) });

/** `{ by: { model: "gpt-4o" } }` when --by was given; the property names stay apart from the row's own keys. */
function byDoc(names: readonly string[], values: readonly string[]): { by?: Record<string, string> } {
  return names.length ? { by: Object.fromEntries(names.map((n, i) => [n, values[i]!])) } : {};
}

/** One table for spreadsheets: `kind` tells billed totals from skip and quarantine counts. */
function totalsCsv(billed: Tally, read: InputTally): string {
  const lines = [csvRow(["kind", "customer", "metric", ...billed.by, "reason", "quantity", "count"])];
  const blanks = billed.by.map(() => "");
  for (const r of billed.sortedRows()) lines.push(csvRow(["billed", text(r.customer), text(r.metric), ...r.by.map(text), "", r.value, r.events]));
  for (const [reason, n] of byCount(billed.skipped)) lines.push(csvRow(["skipped", "", "", ...blanks, text(reason), "", n]));
  for (const [reason, n] of byCount(read.byReason)) lines.push(csvRow(["quarantined", "", "", ...blanks, text(reason), "", n]));
  return lines.join("\n") + "\n";
}

/** RFC 4180 quoting. */
function csvRow(cells: readonly (string | number | null)[]): string {
  return cells.map((c) => (c === null ? "" : typeof c === "number" ? String(c) : /[",\r\n]|^\s|\s$/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(",");
}

/**
 * Text from traces (customer ids, reasons) can start with = + - @, which a spreadsheet would run
 * as a formula; a leading ' keeps it text.
 */
function text(s: string): string {
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

// ---------------------------------------------------------------------------------------------
// Two mapping sets: what the edit changes

interface CompareContext {
  before: MappingSet;
  after: MappingSet;
  by: string[];
  format: PreviewFormat;
  out: NodeJS.WritableStream;
  paths: { before: string; after: string };
}

interface ChangeRow {
  customer: string;
  metric: string;
  by: string[];
  before: number;
  after: number;
  difference: number;
  /** Rounded to 2 decimals; null when there was nothing before. */
  changePercent: number | null;
  eventsBefore: number;
  eventsAfter: number;
}

interface ReasonMove {
  reason: string;
  before: number;
  after: number;
  difference: number;
}

/**
 * The preview path of `mapInputs` (no parking store), with each record evaluated by both sets:
 * the inputs are read once. A record whose trace never arrived is skipped with that reason, as
 * `mapInputs` does without a parking store.
 */
async function compare(files: string[], override: ReturnType<typeof overrideOf>, ctx: CompareContext): Promise<number> {
  const before = new Tally(ctx.by);
  const after = new Tally(ctx.by);
  const read = new InputTally();
  const apply = (set: MappingSet, tally: Tally, record: TraceRecord, contextFound: boolean) => {
    const { events, skips } = evaluateRecord(set, record);
    for (const e of events) tally.event(e);
    for (const s of skips) {
      const orphan = s.code === "no-customer" && !contextFound;
      tally.skip(orphan ? { ...s, reason: `${s.reason} (its trace ${record.traceId} never arrived in these inputs)` } : s);
    }
  };
  for await (const item of readInputs(files, { override })) {
    if (item.kind === "record") {
      apply(ctx.before, before, item.record, item.contextFound);
      apply(ctx.after, after, item.record, item.contextFound);
    } else if (item.kind === "quarantine") read.quarantine(item.entry);
    else if (item.kind === "note") read.note(item.input, item.note);
  }

  const rows = changeRows(before, after);
  const metrics = metricRows(rows);
  const reasons = reasonMoves(before.skipped, after.skipped);
  if (ctx.format === "table") ctx.out.write(changeTable(ctx, rows, metrics, reasons, before, after, read));
  else {
    for (const n of read.notes) process.stderr.write(`note: ${n}\n`);
    if (ctx.format === "csv") ctx.out.write(changeCsv(ctx.by, rows, reasons));
    else {
      const doc = {
        before: { path: ctx.paths.before, mappingSet: setDoc(ctx.before), events: before.events, skipped: before.skips },
        after: { path: ctx.paths.after, mappingSet: setDoc(ctx.after), events: after.events, skipped: after.skips },
        totals: rows.map((r) => ({ customer: r.customer, metric: r.metric, ...byDoc(ctx.by, r.by), before: r.before, after: r.after, difference: r.difference, changePercent: r.changePercent, eventsBefore: r.eventsBefore, eventsAfter: r.eventsAfter })),
        metrics: metrics.map((m) => ({ metric: m.metric, before: m.before, after: m.after, difference: m.difference, changePercent: m.changePercent })),
        skipped: reasons,
        quarantined: { records: read.count, byReason: byCount(read.byReason).map(([reason, records]) => ({ reason, records })) },
      };
      ctx.out.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
  }
  return 0;
}

function change(before: number, after: number): { difference: number; changePercent: number | null } {
  const difference = add(after, -before);
  return { difference, changePercent: before === 0 ? null : Math.round((difference / before) * 10_000) / 100 };
}

function changeRows(before: Tally, after: Tally): ChangeRow[] {
  const keys = new Set([...before.rows.keys(), ...after.rows.keys()]);
  return [...keys]
    .map((k) => {
      const b = before.rows.get(k);
      const a = after.rows.get(k);
      const id = (a ?? b)!;
      const [vb, va] = [b?.value ?? 0, a?.value ?? 0];
      return { customer: id.customer, metric: id.metric, by: id.by, before: vb, after: va, ...change(vb, va), eventsBefore: b?.events ?? 0, eventsAfter: a?.events ?? 0 };
    })
    .sort(byRow);
}

/** The whole bill per metric (summing across metrics would add tokens to dollars). */
function metricRows(rows: readonly ChangeRow[]): { metric: string; before: number; after: number; difference: number; changePercent: number | null }[] {
  const sums = new Map<string, { before: number; after: number }>();
  for (const r of rows) {
    const s = sums.get(r.metric) ?? { before: 0, after: 0 };
    sums.set(r.metric, { before: add(s.before, r.before), after: add(s.after, r.after) });
  }
  return [...sums.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([metric, s]) => ({ metric, ...s, ...change(s.before, s.after) }));
}

function reasonMoves(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): ReasonMove[] {
  const reasons = new Set([...before.keys(), ...after.keys()]);
  return [...reasons]
    .map((reason) => {
      const [b, a] = [before.get(reason) ?? 0, after.get(reason) ?? 0];
      return { reason, before: b, after: a, difference: a - b };
    })
    .sort((x, y) => Math.abs(y.difference) - Math.abs(x.difference) || y.after - x.after || x.reason.localeCompare(y.reason));
}

const signed = (n: number) => (n > 0 ? `+${num(n)}` : n < 0 ? `−${num(-n)}` : "0");

function percent(r: { before: number; after: number; changePercent: number | null }): string {
  if (r.changePercent === null) return r.after === 0 ? "" : "new";
  const p = r.changePercent;
  return `${p > 0 ? "+" : p < 0 ? "−" : ""}${Math.abs(p).toFixed(1)}%`;
}

function changeTable(
  ctx: CompareContext,
  rows: readonly ChangeRow[],
  metrics: ReturnType<typeof metricRows>,
  reasons: readonly ReasonMove[],
  before: Tally,
  after: Tally,
  read: InputTally,
): string {
  const parts: string[] = [];
  parts.push(`Bill change: ${ctx.paths.after} (${setName(ctx.after)})\n     against: ${ctx.paths.before} (${setName(ctx.before)})`);
  const t = table(
    ["Customer", "Metric", ...ctx.by.map(capital), "Before", "After", "Difference", "Change"],
    ["left", "left", ...ctx.by.map(() => "left" as const), "right", "right", "right", "right"],
  );
  for (const r of rows) t.push([r.customer, r.metric, ...r.by.map((v) => v || "—"), num(r.before), num(r.after), signed(r.difference), percent(r)]);
  for (const m of metrics) t.push(["(all customers)", m.metric, ...ctx.by.map(() => ""), num(m.before), num(m.after), signed(m.difference), percent(m)]);
  parts.push(t.toString());
  const moved = reasons.filter((r) => r.difference !== 0);
  if (moved.length) {
    const st = table(["Skip reasons that moved", "Before", "After", "Difference"], ["left", "right", "right", "right"]);
    for (const r of moved) st.push([r.reason, String(r.before), String(r.after), signed(r.difference)]);
    parts.push(st.toString());
  } else {
    parts.push("No skip reason moved.");
  }
  for (const n of read.notes) parts.push(`note: ${n}`);
  const changed = rows.filter((r) => r.difference !== 0).length;
  parts.push(
    `${changed} of ${rows.length} customer × metric totals change; events ${before.events} → ${after.events}, skipped ${before.skips} → ${after.skips}, ${read.count} quarantined (the same inputs for both).`,
  );
  return parts.join("\n") + "\n";
}

function changeCsv(by: readonly string[], rows: readonly ChangeRow[], reasons: readonly ReasonMove[]): string {
  const blanks = by.map(() => "");
  const lines = [csvRow(["kind", "customer", "metric", ...by, "reason", "before", "after", "difference", "change_percent"])];
  for (const r of rows) lines.push(csvRow(["billed", text(r.customer), text(r.metric), ...r.by.map(text), "", r.before, r.after, r.difference, r.changePercent]));
  for (const r of reasons) lines.push(csvRow(["skipped", "", "", ...blanks, text(r.reason), r.before, r.after, r.difference, r.before === 0 ? null : Math.round((r.difference / r.before) * 10_000) / 100]));
  return lines.join("\n") + "\n";
}
