/**
 * @module Applies a compiled mapping set to one record: billable events, or a skip with the
 * reason. Pure and total: bad data or a failing expression becomes a skip, never a throw.
 */
import { idempotencyKey, type BillableEvent, type PropertyValue, type Skip, type TraceRecord } from "../model/index.js";
import { ABSENT, RecordViewError, celRecord } from "./cel-env.js";
import type { CelContext, CelValue, CompiledExpr, CompiledMapping, CompiledProperty, MappingSet } from "./compile.js";

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
  for (const m of set.mappings) {
    try {
      const out = applyMapping(m, record, view);
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

/** The one skip a later input can undo: the record's trace context (and tenant) may still arrive. */
class NoCustomer {
  constructor(readonly reason: string) {}
}

/** Leaves a mapping early with a reason; only thrown on the rare error paths. */
class Skipped extends Error {
  override name = "Skipped";
}

/** Events for the record, or the skip reason. All or nothing per mapping, so a record is either billed or explained. */
function applyMapping(m: CompiledMapping, record: TraceRecord, view: object): BillableEvent[] | string | NoCustomer {
  const ctx: CelContext = { record: view };
  for (const rule of m.rules) {
    const v = run(m, rule.skipWhen, ctx);
    if (v === true) return rule.reason;
    if (v !== false) throw failure(m, rule.skipWhen, v === ABSENT ? ABSENT_TEXT : `gave ${show(v)}, not true or false`);
  }

  const customer = resolveCustomer(m, ctx);
  if (customer === undefined) {
    return new NoCustomer(`${m.name}: no customer: ${m.customer.map((e) => oneLine(e.source)).join(", ")} gave no value`);
  }

  const timestamp = record.endTime ?? record.startTime;
  if (!timestamp) return `${m.name}: no usage time: the record has neither endTime nor startTime`;
  if (Number.isNaN(Date.parse(timestamp))) return `${m.name}: usage time '${timestamp}' is not a date`;

  const eventCtx: CelContext = { record: view, customer };
  const subscription = m.subscription ? text(m, m.subscription, eventCtx) : undefined;

  const events: BillableEvent[] = [];
  for (const metric of m.metrics) {
    const shared = properties(m, metric.properties, eventCtx);
    for (const event of metric.events) {
      const q = run(m, event.quantity, eventCtx);
      if (typeof q !== "number") throw failure(m, event.quantity, q === ABSENT ? ABSENT_TEXT : `gave ${show(q)}, not a number`);
      if (q < 0) throw failure(m, event.quantity, `gave ${q}; a quantity cannot be negative`);
      if (q === 0) continue;
      events.push({
        id: idempotencyKey({
          ...identityOf(record),
          mapping: m.name,
          metric: metric.metric,
          discriminator: event.key,
          split: 0,
        }),
        customer,
        metric: metric.metric,
        value: q,
        timestamp,
        properties: event.properties.length > 0 ? { ...shared, ...properties(m, event.properties, eventCtx) } : { ...shared },
        source: { platform: record.platform, record_id: record.recordId, trace_id: record.traceId },
        mapping: m.name,
        valueProperty: metric.valueProperty,
        ...(subscription === undefined ? {} : { subscription }),
        ...(record.usageEstimated ? { estimated: true } : {}),
      });
    }
  }
  return events;
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

/** A text or number result as text; absent or blank → undefined. */
function text(m: CompiledMapping, expr: CompiledExpr, ctx: CelContext): string | undefined {
  const v = run(m, expr, ctx);
  if (v === ABSENT) return undefined;
  if (typeof v === "boolean") throw failure(m, expr, `gave ${v}, not an id`);
  const s = String(v);
  return s.trim() === "" ? undefined : s;
}

function properties(m: CompiledMapping, props: readonly CompiledProperty[], ctx: CelContext): Record<string, PropertyValue> {
  const out: Record<string, PropertyValue> = {};
  for (const p of props) {
    const v = run(m, p.value, ctx);
    if (v !== ABSENT) out[p.name] = v;
  }
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
