/**
 * @module Applies a compiled mapping set to one record: billable events, or a skip with the
 * reason. Pure and total: bad data or a failing expression becomes a skip, never a throw.
 */
import { idempotencyKey, type BillableEvent, type PropertyValue, type Skip, type TraceRecord } from "../model/index.js";
import { ABSENT, CelValueError, RecordViewError, celRecord, listFromCel } from "./cel-env.js";
import { CelRuntimeError, type CelContext, type CelValue, type CompiledExpr, type CompiledMapping, type CompiledMetric, type CompiledProperty, type MappingSet } from "./compile.js";
import { withEstimatedUsage } from "./estimate.js";
import { ESTIMATED_PROPERTY } from "./schema.js";
import { apportion, SplitError } from "./split.js";

export interface Evaluation {
  events: BillableEvent[];
  skips: Skip[];
}

/** Each mapping of the set is applied on its own: one may bill a record another skips. */
export function evaluateRecord(set: MappingSet, record: TraceRecord): Evaluation {
  const events: BillableEvent[] = [];
  const skips: Skip[] = [];
  const skip = (reason: string, code?: Skip["code"]) =>
    skips.push(code ? { source_record_id: record.recordId, reason, code } : { source_record_id: record.recordId, reason });

  let view: object;
  try {
    view = celRecord(record);
  } catch (e) {
    if (!(e instanceof RecordViewError)) throw e;
    for (const m of set.mappings) skip(`${m.name}: ${e.message}`);
    return { events, skips };
  }
  // Built once, on the first mapping that wants it: tokenizing is the one costly step here.
  let estimated: { record: TraceRecord; view: object; estimated: boolean } | undefined;
  for (const m of set.mappings) {
    try {
      let seen = { record, view, estimated: record.usageEstimated };
      if (m.estimateUsage && record.usage === null && record.text) {
        if (!estimated) {
          const r = withEstimatedUsage({ ...record, text: record.text });
          estimated = { record: r, view: celRecord(r), estimated: true };
        }
        seen = estimated;
      }
      const out = applyMapping(m, seen.record, seen.view, seen.estimated);
      if (typeof out === "string") skip(out);
      else if (out instanceof NoCustomer) skip(out.reason, "no-customer");
      else events.push(...out);
    } catch (e) {
      if (!(e instanceof Skipped)) throw e;
      skip(e.message);
    }
  }
  return { events, skips };
}

/**
 * Who the set's first billing mapping says a record belongs to, whether or not it bills it: for
 * reports of what was not billed (a failed call, a cache hit) per customer. undefined when no
 * customer expression gives a value (or the record cannot be viewed).
 */
export function payerOf(set: MappingSet, record: TraceRecord): string | undefined {
  const m = set.mappings[0];
  if (!m) return undefined;
  try {
    const view = celRecord(record);
    return resolveCustomer(m, m.params ? { record: view, params: m.params } : { record: view });
  } catch {
    return undefined;
  }
}

/** The one skip a later input can undo: the record's trace context (and tenant) may still arrive. */
class NoCustomer {
  constructor(readonly reason: string) {}
}

/** Leaves a mapping early with a reason; only thrown on the rare error paths. */
class Skipped extends Error {
  override name = "Skipped";
}

/** Who pays for a record: one customer, or the shares of a call split between customers. */
interface Payer {
  customer: string;
  /** Weight in the split; absent when one customer pays everything. */
  weight?: number;
}

/**
 * Events for the record, or the skip reason. All or nothing per mapping, so a record is either
 * billed or explained. `record` is as the mapping sees it (usage estimated when it opted in);
 * `estimated`: its quantities are not the provider's counts.
 */
function applyMapping(m: CompiledMapping, record: TraceRecord, view: object, estimated: boolean): BillableEvent[] | string | NoCustomer {
  const ctx: CelContext = m.params ? { record: view, params: m.params } : { record: view };
  for (const rule of m.rules) {
    const v = run(m, rule.skipWhen, ctx);
    if (v === true) return rule.reason;
    if (v !== false) throw failure(m, rule.skipWhen, v === ABSENT ? ABSENT_TEXT : `gave ${show(v)}, not true or false`);
  }

  // A call shared between customers is billed to its shares; any other to its one customer.
  const shares = m.split ? sharesOf(m, ctx) : undefined;
  let payers: Payer[];
  if (shares) payers = shares;
  else {
    const customer = resolveCustomer(m, ctx);
    if (customer === undefined) {
      return new NoCustomer(`${m.name}: no customer: ${m.customer.map((e) => oneLine(e.source)).join(", ")} gave no value`);
    }
    payers = [{ customer }];
  }

  const timestamp = record.endTime ?? record.startTime;
  if (!timestamp) return `${m.name}: no usage time: the record has neither endTime nor startTime`;
  if (Number.isNaN(Date.parse(timestamp))) return `${m.name}: usage time '${timestamp}' is not a date`;

  const perPayer: { customer: string; ctx: CelContext; subscription: string | undefined }[] = [];
  for (const p of payers) {
    const payerCtx: CelContext = m.params ? { record: view, params: m.params, customer: p.customer } : { record: view, customer: p.customer };
    perPayer.push({ customer: p.customer, ctx: payerCtx, subscription: m.subscription ? text(m, m.subscription, payerCtx) : undefined });
  }
  const base: EventBase = {
    identity: identityOf(record),
    timestamp,
    source: { platform: record.platform, record_id: record.recordId, trace_id: record.traceId },
    mappingVersion: `${m.name}@${m.version}`,
    estimated,
  };

  const events: BillableEvent[] = [];
  for (const metric of m.metrics) {
    const shared = perPayer.map((p) => properties(m, metric.properties, p.ctx));
    for (const event of metric.events) {
      // Without a split the quantity may read `customer`; with one it is the call's total.
      const q = quantity(m, event.quantity, shares ? ctx : perPayer[0]!.ctx);
      if (q === 0) continue;
      const parts = shares ? split(m, metric, event.key, q, shares) : [q];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i] === 0) continue;
        const p = perPayer[i]!;
        // A fresh object per event: events of one record never share their properties.
        const props = copyOf(shared[i]!);
        if (event.properties.length > 0) properties(m, event.properties, p.ctx, props);
        events.push(billableEvent(m, metric, event.key, i, parts[i]!, p.customer, p.subscription, props, base));
      }
    }
  }
  return events;
}

/** What every event of one record and mapping shares. */
interface EventBase {
  identity: { platform: string; recordId: string };
  timestamp: string;
  source: BillableEvent["source"];
  mappingVersion: string;
  estimated: boolean;
}

function billableEvent(
  m: CompiledMapping,
  metric: CompiledMetric,
  key: string,
  split: number,
  value: number,
  customer: string,
  subscription: string | undefined,
  properties: Record<string, PropertyValue>,
  base: EventBase,
): BillableEvent {
  if (base.estimated) properties[ESTIMATED_PROPERTY] = true;
  const e: BillableEvent = {
    id: idempotencyKey({ platform: base.identity.platform, recordId: base.identity.recordId, mapping: m.name, metric: metric.metric, discriminator: key, split }),
    customer,
    metric: metric.metric,
    value,
    timestamp: base.timestamp,
    properties,
    source: base.source,
    mapping: m.name,
    valueProperty: metric.valueProperty,
  };
  if (subscription !== undefined) e.subscription = subscription;
  if (base.estimated) e.estimated = true;
  e.mappingVersion = base.mappingVersion;
  if (metric.destinations) e.destinations = metric.destinations;
  return e;
}

/**
 * What makes two records the same model call. A provider response id (chatcmpl-…, msg_…) is
 * unique per call, so when a gateway and an SDK both trace the call — or an LLM-cache replay
 * repeats it — both records get one key and the ledger bills the call once; otherwise the
 * platform's record id.
 */
export function identityOf(record: TraceRecord): { platform: string; recordId: string } {
  return record.responseId ? { platform: "response", recordId: record.responseId } : { platform: record.platform, recordId: record.recordId };
}

/** First candidate with a non-empty value, as text: tenant ids sent as numbers (10987) become "10987". */
function resolveCustomer(m: CompiledMapping, ctx: CelContext): string | undefined {
  for (const expr of m.customer) {
    const id = text(m, expr, ctx);
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * The shares of a call split between customers, sorted by customer (their position is the
 * `split` part of each event's idempotency key); a customer listed twice gets the sum of its
 * weights. undefined when the call is not shared (no list, or an empty one).
 */
function sharesOf(m: CompiledMapping, ctx: CelContext): Payer[] | undefined {
  const expr = m.split!.shares;
  let list;
  try {
    list = listFromCel(expr.evaluateRaw ? expr.evaluateRaw(ctx) : undefined);
  } catch (e) {
    // Unlike elsewhere a missing field is an error here: a malformed share list must not bill the call to one customer.
    if (e instanceof CelRuntimeError && e.missing) {
      throw failure(m, expr, `${ABSENT_TEXT} (${e.message}); a call that may not be shared reads its list with ?. and orValue([])`);
    }
    throw failure(m, expr, e instanceof CelValueError ? e.message : `failed: ${(e as Error).message}`);
  }
  if (list === ABSENT || list.length === 0) return undefined;
  const weights = new Map<string, number>();
  list.forEach((item, i) => {
    const c = item["customer"];
    const w = item["weight"];
    const where = `share ${i + 1}`;
    if (typeof c !== "string" && typeof c !== "number") throw failure(m, expr, `${where} has no 'customer' (text or a number)`);
    const customer = String(c);
    if (customer.trim() === "") throw failure(m, expr, `${where} has an empty customer`);
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0) {
      throw failure(m, expr, `${where} (${customer}) has weight ${w === undefined || w === ABSENT ? "none" : show(w)}; weights are numbers ≥ 0`);
    }
    weights.set(customer, (weights.get(customer) ?? 0) + w);
  });
  const customers = [...weights.keys()].sort();
  if (customers.every((c) => weights.get(c) === 0)) throw failure(m, expr, "gave shares that all weigh 0");
  return customers.map((customer) => ({ customer, weight: weights.get(customer)! }));
}

function split(m: CompiledMapping, metric: CompiledMetric, key: string, q: number, shares: Payer[]): number[] {
  try {
    return apportion(q, shares.map((s) => s.weight!));
  } catch (e) {
    if (!(e instanceof SplitError)) throw e;
    throw new Skipped(`${m.split!.reason} cannot split metric '${metric.metric}' event '${key}': ${e.message}`);
  }
}

function quantity(m: CompiledMapping, expr: CompiledExpr, ctx: CelContext): number {
  const q = run(m, expr, ctx);
  if (typeof q !== "number") throw failure(m, expr, q === ABSENT ? ABSENT_TEXT : `gave ${show(q)}, not a number`);
  if (q < 0) throw failure(m, expr, `gave ${q}; a quantity cannot be negative`);
  return q;
}

/** A text or number result as text; absent or blank → undefined. */
function text(m: CompiledMapping, expr: CompiledExpr, ctx: CelContext): string | undefined {
  const v = run(m, expr, ctx);
  if (v === ABSENT) return undefined;
  if (typeof v === "boolean") throw failure(m, expr, `gave ${v}, not an id`);
  const s = String(v);
  return s.trim() === "" ? undefined : s;
}

function properties(m: CompiledMapping, props: readonly CompiledProperty[], ctx: CelContext, out: Record<string, PropertyValue> = {}): Record<string, PropertyValue> {
  for (const p of props) {
    const v = run(m, p.value, ctx);
    if (v !== ABSENT) out[p.name] = v;
  }
  return out;
}

/**
 * The same object as `{ ...props }`, built by assignment: V8 gives a spread copy a shape that
 * makes adding the event's own properties afterwards ~10× slower (a tenth of mapping time).
 */
function copyOf(props: Record<string, PropertyValue>): Record<string, PropertyValue> {
  const out: Record<string, PropertyValue> = {};
  for (const k in props) if (Object.hasOwn(props, k)) out[k] = props[k]!;
  return out;
}

function run(m: CompiledMapping, expr: CompiledExpr, ctx: CelContext): CelValue {
  try {
    return expr.evaluate(ctx);
  } catch (e) {
    throw failure(m, expr, `failed: ${(e as Error).message}`);
  }
}

const ABSENT_TEXT = "reads a field this record does not have";

function failure(m: CompiledMapping, expr: CompiledExpr, what: string): Skipped {
  return new Skipped(`${m.name}: ${expr.at} \`${oneLine(expr.source)}\` ${what}`);
}

function oneLine(source: string): string {
  return source.trim().replace(/\s+/g, " ");
}

function show(v: CelValue): string {
  return typeof v === "string" ? `"${v}"` : String(v);
}
