import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  ALLOCATION_MODELS, ATTRIBUTION_MODELS, allocationModelOf, backtest, isWholeWindows, loadAttributionConfig, notCountedText, withAllocations,
  type AllocationItem, type AllocationModel, type AttributionItem, type AttributionModel, type BacktestReport,
} from "../../attribution/index.js";
import { loadMappingSet, type MappingSet } from "../../mapping/index.js";
import { DESTINATIONS, UserError, type BillableEvent, type Destination } from "../../model/index.js";
import { mapInputs } from "../../pipeline/map-inputs.js";
import type { DetectOverride } from "../../sources/source.js";
import { overrideOf, resolveInputs, type InputOptions } from "../inputs.js";
import { table } from "../table.js";

export interface AttributionBacktestOptions extends InputOptions {
  /** Usage time window [from, to), ISO-8601. */
  from: string;
  to: string;
  /** Mapping file or directory. */
  mapping: string;
  /** Attribution config; default: `attribution.yaml` beside the mappings (direct attribution when absent). */
  attribution?: string;
  /** activity | weighted; default: the config's model, or activity when it says direct. */
  model?: string;
  format: string;
  /** JSON: include the allocation events themselves. */
  events?: boolean;
}

export interface BacktestDeps {
  /** The mapped items of the inputs (default: the pipeline's mapInputs, the path preview and sync share). */
  mapItems?: (files: string[], set: MappingSet, opts: { override?: DetectOverride }) => AsyncIterable<AttributionItem & { input?: string; note?: string }>;
}

/** The config the mappings at `mappingPath` come with: `attribution.yaml` in their directory. */
export async function defaultAttributionPath(mappingPath: string): Promise<string> {
  try {
    return join((await stat(mappingPath)).isDirectory() ? mappingPath : dirname(mappingPath), "attribution.yaml");
  } catch {
    return join(mappingPath, "attribution.yaml");
  }
}

/** Options a command that maps inputs (preview) takes to show allocation. */
export interface AllocationFlags {
  mapping: string;
  /** Attribution config; default: `attribution.yaml` beside the mappings. */
  attribution?: string;
  /** direct | activity | weighted; default: the config's model. */
  allocate?: string;
}

/**
 * For preview: a wrapper around the mapped items that adds the allocation events of the
 * attribution model in force (the config's, or `--allocate`); a pass-through under direct attribution.
 */
export async function allocationFor(
  flags: AllocationFlags,
): Promise<<T extends AttributionItem>(items: AsyncIterable<T>, set: MappingSet) => AsyncIterable<T | AllocationItem>> {
  if (flags.allocate !== undefined && !(ATTRIBUTION_MODELS as readonly string[]).includes(flags.allocate)) {
    throw new UserError(`--allocate must be one of ${ATTRIBUTION_MODELS.join(", ")} (got "${flags.allocate}")`);
  }
  const config = flags.attribution
    ? await loadAttributionConfig(flags.attribution)
    : await loadAttributionConfig(await defaultAttributionPath(flags.mapping), { optional: true });
  const model = (flags.allocate ?? config.model) as AttributionModel;
  if (model === "direct") return (items) => items;
  return (items, set) => withAllocations(items, set, config, { model });
}

/**
 * `tracebill attribution backtest`: runs an allocation model beside direct attribution over
 * [from, to) and reports, per tenant, the direct total, the total with allocation, the
 * difference and the share of the unattributed spend. No Redis, no network.
 */
export async function attributionBacktestCommand(
  inputs: string[],
  opts: AttributionBacktestOptions,
  out: NodeJS.WritableStream = process.stdout,
  deps: BacktestDeps = {},
): Promise<number> {
  if (opts.format !== "table" && opts.format !== "json") throw new UserError(`--format must be table or json (got "${opts.format}")`);
  const from = instant("--from", opts.from);
  const to = instant("--to", opts.to);
  if (Date.parse(from) >= Date.parse(to)) throw new UserError(`--from (${from}) must be before --to (${to})`);
  if (opts.model !== undefined && !ALLOCATION_MODELS.includes(opts.model as AllocationModel)) {
    throw new UserError(`--model must be one of ${ALLOCATION_MODELS.join(", ")} (got "${opts.model}"); direct attribution is what the back-test compares with`);
  }
  const config = opts.attribution
    ? await loadAttributionConfig(opts.attribution)
    : await loadAttributionConfig(await defaultAttributionPath(opts.mapping), { optional: true });
  const model: AllocationModel = (opts.model as AllocationModel | undefined) ?? (config.model === "direct" ? "activity" : config.model);
  const set = await loadMappingSet(opts.mapping);
  const files = await resolveInputs(inputs);
  const override = overrideOf(opts);
  const mapItems: NonNullable<BacktestDeps["mapItems"]> = deps.mapItems ?? ((f, s, o) => mapInputs(f, s, o));

  const notes: string[] = [];
  let quarantined = 0;
  async function* read(): AsyncGenerator<AttributionItem> {
    for await (const item of mapItems(files, set, { ...(override ? { override } : {}) })) {
      if (item.kind === "note") notes.push(`${item.input}: ${item.note}`);
      else if (item.kind === "quarantine") quarantined += 1;
      else yield item;
    }
  }
  const report = await backtest(read(), set, config, { from, to, model });
  if (!isWholeWindows(from, to, config.window)) {
    notes.push(`attribution: the period cuts a UTC ${config.window} window; its allocation uses only the usage inside the period`);
  }

  if (opts.format === "json") {
    const { events, ...rest } = report;
    out.write(`${JSON.stringify({ ...rest, ...(opts.events ? { events } : {}), quarantined, notes }, null, 2)}\n`);
    return 0;
  }
  out.write(renderBacktest(report));
  if (quarantined) out.write(`${quarantined} input record${quarantined === 1 ? "" : "s"} quarantined (see tracebill preview).\n`);
  for (const n of notes) out.write(`note: ${n}\n`);
  return 0;
}

/** The back-test as text tables: per tenant, then the unattributed totals, then what was left out. */
export function renderBacktest(r: BacktestReport): string {
  const lines: string[] = [];
  lines.push(`Attribution back-test ${r.from} → ${r.to} (usage time, end exclusive)`);
  lines.push(`${r.model} allocation by ${r.activity === "calls" ? "calls" : "quantity"} per UTC ${r.window}, beside direct attribution; config ${r.config.name}@${r.config.version} (${r.config.file})`);
  const t = table(["Tenant", "Metric", "Direct", "With allocation", "Difference", "Share of unattributed"], ["left", "left", "right", "right", "right", "right"]);
  for (const row of r.rows) {
    t.push([row.shared ? `${row.tenant} (shared)` : row.tenant, row.metric, qty(row.direct), qty(row.allocated), signed(row.difference), `${(row.share * 100).toFixed(2)}%`]);
  }
  lines.push(r.rows.length ? t.toString() : "(no tenant usage in the period)");
  if (r.unattributed.length === 0) lines.push("No unattributed usage in the period: allocation changes nothing.");
  for (const u of r.unattributed) {
    lines.push(`Unattributed ${u.metric}: ${qty(u.total)} in ${u.windows} window${u.windows === 1 ? "" : "s"} = ${qty(u.allocated)} allocated + ${qty(u.unallocated)} not allocated`);
  }
  if (r.unallocated.length) {
    const ut = table(["Not allocated — window", "Metric", "Model", "Type", "Quantity", "Reason"], ["left", "left", "left", "left", "right", "left"]);
    for (const u of r.unallocated) ut.push([u.window, u.metric, u.model || "—", u.type || "—", qty(u.quantity), u.reason]);
    lines.push(ut.toString());
  }
  for (const n of r.notCounted) lines.push(`not counted as unattributed: ${notCountedText(n)}`);
  return `${lines.join("\n")}\n`;
}

function instant(flag: string, value: string): string {
  const t = Date.parse(value);
  if (!value || Number.isNaN(t)) throw new UserError(`${flag} must be an ISO-8601 date or time (got "${value}")`);
  return new Date(t).toISOString();
}

function qty(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 9 });
}

function signed(n: number): string {
  return n > 0 ? `+${qty(n)}` : qty(n);
}

export interface AttributionAllocateOptions extends InputOptions {
  from: string;
  to: string;
  mapping: string;
  attribution?: string;
  /** activity | weighted; default: the config's model (which must not be direct). */
  model?: string;
  /** lago | openmeter: enqueue the events for delivery; without it, print them (dry run). */
  destination?: string;
  /** Names this run in the event ids when other runs allocate other parts of the same windows. */
  scope?: string;
}

export interface AllocateDeps extends BacktestDeps {
  /** Hands the events to the delivery queue as a sync of their own; returns the sync id. */
  enqueue?: (destination: Destination, events: BillableEvent[]) => Promise<string>;
}

/**
 * `tracebill attribution allocate`: the allocation events of a closed period — whole UTC windows,
 * read in one pass — printed as JSON, or enqueued for a destination. Their ids are fixed per
 * (window, metric, model, type, tenant): running it again for the same period sends nothing new.
 */
export async function attributionAllocateCommand(
  inputs: string[],
  opts: AttributionAllocateOptions,
  out: NodeJS.WritableStream = process.stdout,
  deps: AllocateDeps = {},
): Promise<number> {
  const from = instant("--from", opts.from);
  const to = instant("--to", opts.to);
  if (Date.parse(from) >= Date.parse(to)) throw new UserError(`--from (${from}) must be before --to (${to})`);
  if (opts.model !== undefined && !ALLOCATION_MODELS.includes(opts.model as AllocationModel)) {
    throw new UserError(`--model must be one of ${ALLOCATION_MODELS.join(", ")} (got "${opts.model}")`);
  }
  if (opts.destination !== undefined && !DESTINATIONS.includes(opts.destination as Destination)) {
    throw new UserError(`--destination must be one of ${DESTINATIONS.join(", ")} (got "${opts.destination}")`);
  }
  const config = opts.attribution
    ? await loadAttributionConfig(opts.attribution)
    : await loadAttributionConfig(await defaultAttributionPath(opts.mapping), { optional: true });
  const model = allocationModelOf(config, opts.model as AllocationModel | undefined);
  if (!model) throw new UserError(`${config.file} says model: direct, so nothing is allocated; pass --model activity or --model weighted`);
  if (opts.destination !== undefined && config.unattributed.customers.length > 0) {
    // Until sync withholds those tenants' events, sending their reallocation would bill that usage twice.
    throw new UserError(`${config.file}: unattributed.customers (${config.unattributed.customers.join(", ")}) are still billed directly by sync; allocating their usage to other tenants would bill it twice`);
  }
  if (!isWholeWindows(from, to, config.window)) {
    throw new UserError(`--from and --to must fall on UTC ${config.window} boundaries: an allocation event stands for a whole window and is sent once`);
  }
  const set = await loadMappingSet(opts.mapping);
  const files = await resolveInputs(inputs);
  const override = overrideOf(opts);
  const mapItems: NonNullable<BacktestDeps["mapItems"]> = deps.mapItems ?? ((f, s, o) => mapInputs(f, s, o));

  const events: BillableEvent[] = [];
  const notes: string[] = [];
  const stream = withAllocations(mapItems(files, set, { ...(override ? { override } : {}) }), set, config, {
    model,
    period: { from, to },
    onlyAllocations: true,
    ...(opts.scope ? { scope: opts.scope } : {}),
  });
  for await (const item of stream) {
    if (item.kind === "event" && item.event) events.push(item.event);
    else if (item.kind === "note" && "note" in item) notes.push(`${item.input}: ${item.note}`);
  }
  if (opts.destination === undefined) {
    out.write(`${JSON.stringify({ from, to, model, events, notes }, null, 2)}\n`);
    return 0;
  }
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  if (events.length === 0) {
    out.write("no allocation events for this period; nothing enqueued\n");
    return 0;
  }
  if (!deps.enqueue) throw new UserError("this build cannot enqueue allocation events (no delivery queue wired)");
  const syncId = await deps.enqueue(opts.destination as Destination, events);
  out.write(`enqueued sync ${syncId}: ${events.length} allocation event${events.length === 1 ? "" : "s"} (${model}, ${from} → ${to}) → ${opts.destination}\n`);
  return 0;
}
