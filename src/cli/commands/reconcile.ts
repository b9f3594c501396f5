import { stat } from "node:fs/promises";
import { join } from "node:path";
import { backtest, loadAttributionConfig } from "../../attribution/index.js";
import type { Ledger } from "../../ledger/ledger.js";
import { loadMappingSet, metricsOf, type MappingSet } from "../../mapping/index.js";
import { emptyExclusions, UserError, type BillableEvent, type Destination, type Exclusions, type UsageTotal } from "../../model/index.js";
import { ExclusionCounter } from "../../pipeline/exclusions.js";
import { mapInputs } from "../../pipeline/map-inputs.js";
import type { AllocationSummary, EventCheck, Report } from "../../reconcile/reconcile.js";
import { runReconcile, writeReport } from "../../reconcile/run.js";
import type { BillingSink } from "../../sinks/sink.js";
import { baseContext, connectRedis, ledgerFor, parseDestination, recentSyncs, sinkFor } from "../context.js";
import { defaultAttributionPath } from "./attribution.js";

export interface ReconcileOptions {
  destination: string;
  from: string;
  to: string;
  out?: string;
  mapping?: string;
  /** Minutes of destination ingestion lag within which a shortfall is `pending` (default 15 OpenMeter, 1 Lago). */
  pendingMinutes?: string;
  /** Re-send the events of `missing` rows, re-mapped from `inputs`, then reconcile again. */
  repair?: boolean;
  inputs?: string[];
}

export interface RepairResult {
  /** Events of the inputs that fall in a missing row of the window. */
  candidates: number;
  /**
   * Held by the destination now. Lago: sent and accepted (they were absent). OpenMeter: sent, or
   * found stored by id first — its `maybeSent` outcome does not say which; either way once.
   */
  delivered: number;
  /** Lago refused them as known transaction_ids (`duplicate`): already held, not billed twice. */
  already: number;
  failed: { id: string; status: string; reason: string }[];
  /** `delivered` per row: a shortfall up to it right after the repair is ingestion lag (`pending`). */
  sentNow: UsageTotal[];
}

const rowKey = (customer: string, metric: string, model: string) => `${customer}\u001f${metric}\u001f${model}`;
const modelOf = (e: BillableEvent) => (typeof e.properties.model === "string" ? e.properties.model : "");

/**
 * Re-sends the events of the rows `report` says are missing, re-mapped from the original exports.
 * Safe to repeat: `maybeSent` makes OpenMeter look every event up by id and send only the absent
 * ones, and Lago refuses a known transaction_id (`duplicate`), so nothing the biller holds is
 * billed twice. Delivered and already-held events are recorded in the ledger (idempotent).
 */
export async function repairMissing(o: { report: Report; inputs: string[]; mappings: MappingSet; sink: BillingSink; ledger: Ledger; destination: Destination }): Promise<RepairResult> {
  const missing = new Set(o.report.rows.filter((r) => r.status === "missing").map((r) => rowKey(r.customer, r.metric, r.model)));
  const from = Date.parse(o.report.window.from);
  const to = Date.parse(o.report.window.to);
  const byId = new Map<string, BillableEvent>();
  if (missing.size) {
    for await (const item of mapInputs(o.inputs, o.mappings)) {
      if (item.kind !== "event") continue;
      const e = item.event;
      const t = Date.parse(e.timestamp);
      if (t >= from && t < to && missing.has(rowKey(e.customer, e.metric, modelOf(e)))) byId.set(e.id, e);
    }
  }
  const events = [...byId.values()];
  const result: RepairResult = { candidates: events.length, delivered: 0, already: 0, failed: [], sentNow: [] };
  const now = new Map<string, UsageTotal>();
  for (let i = 0; i < events.length; i += o.sink.limits.maxBatchSize) {
    const batch = events.slice(i, i + o.sink.limits.maxBatchSize);
    const outcomes = await o.sink.send(batch, { maybeSent: true });
    const held: BillableEvent[] = [];
    outcomes.forEach((out, k) => {
      const e = batch[k]!;
      if (out.status === "delivered") {
        result.delivered++;
        held.push(e);
        const key = rowKey(e.customer, e.metric, modelOf(e));
        const r = now.get(key) ?? { customer: e.customer, metric: e.metric, model: modelOf(e), value: 0, events: 0 };
        r.value += e.value;
        r.events++;
        now.set(key, r);
      } else if (out.status === "duplicate") {
        result.already++;
        held.push(e);
      } else result.failed.push({ id: e.id, status: out.status, reason: out.reason });
    });
    if (held.length) await o.ledger.recordDelivered(o.destination, held);
  }
  result.sentNow = [...now.values()];
  return result;
}

/** Ids listed per differing row; the count covers the rest. */
const MAX_IDS = 100;
/** Events looked up by id per row at most (Lago answers one id per request). */
const MAX_CHECKED = 2_000;

/**
 * One pass over the exports for the report's window: what was not billed and why (exact, unlike
 * the sync-level figures), and the events of each differing row looked up at the destination by
 * id, so every such line names the events behind it.
 */
export async function checkInputs(o: { report: Report; inputs: string[]; mappings: MappingSet; sink: BillingSink }): Promise<{ exclusions: Exclusions; eventChecks: EventCheck[] }> {
  const from = Date.parse(o.report.window.from);
  const to = Date.parse(o.report.window.to);
  const exclusions = emptyExclusions(`the ${o.inputs.length} input${o.inputs.length === 1 ? "" : "s"} given, usage within the window`);
  const counter = new ExclusionCounter(exclusions, o.mappings, { from, to });
  const differing = new Map(o.report.rows.filter((r) => r.status !== "matched").map((r) => [rowKey(r.customer, r.metric, r.model), r]));
  const perRow = new Map<string, { events: BillableEvent[]; count: number }>();
  const seen = new Set<string>();
  for await (const item of mapInputs(o.inputs, o.mappings)) {
    counter.push(item);
    if (item.kind !== "event") continue;
    const e = item.event;
    const t = Date.parse(e.timestamp);
    const key = rowKey(e.customer, e.metric, modelOf(e));
    if (!(t >= from && t < to) || !differing.has(key) || seen.has(e.id)) continue;
    seen.add(e.id);
    const row = perRow.get(key) ?? { events: [], count: 0 };
    row.count++;
    if (row.events.length < MAX_CHECKED) row.events.push(e);
    perRow.set(key, row);
  }
  counter.flush();
  const eventChecks: EventCheck[] = [];
  for (const [key, r] of differing) {
    const found = perRow.get(key) ?? { events: [], count: 0 };
    const held = o.sink.heldIds && found.events.length ? await o.sink.heldIds(found.events) : new Set<string>();
    const absent = found.events.filter((e) => !held.has(e.id)).map((e) => e.id);
    eventChecks.push({
      customer: r.customer, metric: r.metric, model: r.model, status: r.status,
      events: found.count, held: held.size, absent: absent.slice(0, MAX_IDS), absentCount: absent.length + (found.count - found.events.length),
      sample: found.events.slice(0, 5).map((e) => e.id),
    });
  }
  return { exclusions, eventChecks };
}

/** The attribution back-test over the report's window, when an attribution config sits beside the mappings. */
export async function allocationOf(o: { report: Report; inputs: string[]; mappings: MappingSet; mappingPath: string }): Promise<AllocationSummary | undefined> {
  const path = await defaultAttributionPath(o.mappingPath);
  if (!(await stat(path).then((st) => st.isFile(), () => false))) return undefined;
  const config = await loadAttributionConfig(path);
  const model = config.model === "direct" ? "activity" : config.model;
  const bt = await backtest(mapInputs(o.inputs, o.mappings), o.mappings, config, { from: o.report.window.from, to: o.report.window.to, model });
  return {
    model: bt.model, config: `${bt.config.name}@${bt.config.version}`,
    unattributed: bt.unattributed.map((u) => ({ metric: u.metric, total: u.total, allocated: u.allocated, unallocated: u.unallocated })),
    rows: bt.rows.map((r) => ({ tenant: r.tenant, metric: r.metric, direct: r.direct, allocated: r.allocated, difference: r.difference, share: r.share })),
  };
}

export function parseInstant(name: string, v: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) throw new UserError(`${name} must be an ISO-8601 date or time (got "${v}")`);
  return d;
}

/** exit 0 = everything matches, 1 = something differs, 2 = error (thrown). */
export async function reconcileCommand(opts: ReconcileOptions): Promise<number> {
  const { config } = baseContext();
  const destination = parseDestination(opts.destination);
  const from = parseInstant("--from", opts.from);
  const to = parseInstant("--to", opts.to);
  if (to <= from) throw new UserError("--to must be after --from");
  const pendingMinutes = opts.pendingMinutes === undefined ? undefined : Number(opts.pendingMinutes);
  if (pendingMinutes !== undefined && !(Number.isFinite(pendingMinutes) && pendingMinutes >= 0)) throw new UserError(`--pending-minutes must be a number of minutes ≥ 0 (got "${opts.pendingMinutes}")`);
  if (opts.repair && !opts.inputs?.length) throw new UserError("--repair needs the exports to re-send from: --inputs FILE...");
  const sink = sinkFor(config, destination);
  const mappings = await loadMappingSet(opts.mapping ?? config.mappingsDir);
  const redis = await connectRedis(config);
  try {
    const syncs = await recentSyncs(redis, config, destination);
    const ledger = ledgerFor(redis, config);
    const base = { destination, from, to, ledger, sink, metrics: metricsOf(mappings), syncs, ...(pendingMinutes !== undefined ? { pendingMinutes } : {}) };
    let report = await runReconcile(base);
    if (opts.repair) {
      const r = await repairMissing({ report, inputs: opts.inputs!, mappings, sink, ledger, destination });
      console.log(`repair: ${r.candidates} events of missing rows found in the inputs; ${r.delivered} re-sent, ${r.already} already held (not sent twice), ${r.failed.length} failed`);
      for (const f of r.failed.slice(0, 20)) console.log(`  ${f.id}: ${f.status}: ${f.reason}`);
      // What was just sent may not be readable yet: a shortfall up to it is reported pending.
      report = await runReconcile({ ...base, recent: r.sentNow });
    }
    if (opts.inputs?.length) {
      const checked = await checkInputs({ report, inputs: opts.inputs, mappings, sink });
      const allocation = await allocationOf({ report, inputs: opts.inputs, mappings, mappingPath: opts.mapping ?? config.mappingsDir });
      report = { ...report, ...checked, ...(allocation ? { allocation } : {}) };
    }
    const dir = opts.out ?? join(config.reportsDir, `${destination}-${report.generatedAt.replace(/[:.]/g, "-")}`);
    const paths = await writeReport(report, dir);
    const s = report.summary;
    const c = report.statusCounts;
    const extra = [c.unbillable ? `, ${c.unbillable} unbillable` : "", c.late ? `, ${c.late} late` : "", c.pending ? `, ${c.pending} pending (ingestion lag: re-run later)` : ""].join("");
    console.log(`${report.ok ? "MATCH" : "DIFFERENCES"}: ${s.matched}/${s.rows} rows matched, ${s.missing} missing, ${s.excess} excess${extra}; ${report.deadLetters.count} dead-lettered`);
    console.log(`report: ${paths.markdown}\n        ${paths.json}`);
    return report.ok ? 0 : 1;
  } finally {
    await redis.quit();
  }
}
