/**
 * @module Lago-compatible API (below /lago/api/v1), Postgres event store semantics (lago.md §2, §3, §6):
 * batches are validated event by event and accepted or refused as a whole; `transaction_id` is
 * unique per `external_subscription_id` forever; unknown codes and subscriptions are stored and
 * simply never billed.
 */
import { randomUUID } from "node:crypto";
import type { UsageTotal } from "../model/index.js";
import { bearerToken, isPlainObject, parseJson, type ApiRequest, type Reply } from "./http.js";
import type { LagoAggregation, LagoStoredEvent, LagoSubscriptionStatus, SandboxSeed } from "./sandbox.js";

interface Customer { lago_id: string; external_id: string; name: string; created_at: string }
interface Subscription {
  lago_id: string;
  external_id: string;
  external_customer_id: string;
  lago_customer_id: string;
  plan_code: string;
  status: LagoSubscriptionStatus;
  startedMs: number;
  created_at: string;
}
interface Metric { lago_id: string; code: string; name: string; aggregation_type: LagoAggregation; field_name: string | null; created_at: string }
interface StoredEvent {
  lago_id: string;
  transaction_id: string;
  external_subscription_id: string;
  code: string;
  timestampMs: number;
  properties: Record<string, unknown>;
  precise_total_amount_cents: string | null;
  created_at: string;
}

type FieldErrors = Record<string, string[]>;

const DEFAULT_STARTED_AT = Date.parse("2000-01-01T00:00:00Z");

const unauthorized: Reply = { status: 401, body: { status: 401, error: "Unauthorized" } };
const validation = (details: unknown): Reply => ({
  status: 422,
  body: { status: 422, error: "Unprocessable Entity", code: "validation_errors", error_details: details },
});
const notFound = (code: string): Reply => ({ status: 404, body: { status: 404, error: "Not Found", code } });
const notAllowed = (code: string): Reply => ({ status: 405, body: { status: 405, error: "Method Not Allowed", code } });
const badRequest = (message: string): Reply => ({ status: 400, body: { status: 400, error: `BadRequest: ${message}` } });
export const lagoServerError: Reply = { status: 500, body: { status: 500, error: "Internal Server Error" } };

const isoMs = (ms: number) => new Date(ms).toISOString();
const isBlank = (v: unknown) => v === undefined || v === null || (typeof v === "string" && v.trim() === "") || (typeof v !== "string" && typeof v !== "number");

/**
 * Unix seconds, number or numeric string, decimals allowed (lago.md §2.1: `Time.zone.at(BigDecimal(ts))`).
 * Strings are parsed digit by digit so "1651240791.123" is exactly …123 ms, with no float noise.
 */
export function parseUnixSeconds(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? Math.round(v * 1000) : null;
  if (typeof v !== "string") return null;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (m) {
    const [, sign, int, frac = ""] = m;
    const ms = Number(int) * 1000 + Number((frac + "000").slice(0, 3));
    return sign ? -ms : ms;
  }
  if (/^-?\d+(\.\d+)?[eE][+-]?\d+$/.test(v.trim())) return Math.round(Number(v) * 1000);
  return null;
}

/** Numeric property as Lago aggregates it (post-validation accepts `^-?\d+(\.\d+)?$`). */
function numeric(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  return null;
}

/** BigDecimal#to_s style: integers keep a ".0". */
const decimalString = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n));

function paginate<T>(items: T[], q: URLSearchParams): { items: T[]; meta: Record<string, number | null> } {
  const int = (k: string, d: number) => {
    const n = Number.parseInt(q.get(k) ?? "", 10);
    return Number.isFinite(n) && n > 0 ? n : d;
  };
  const page = int("page", 1);
  const perPage = int("per_page", 100);
  const totalPages = Math.ceil(items.length / perPage);
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    meta: {
      current_page: page,
      next_page: page < totalPages ? page + 1 : null,
      prev_page: page > 1 ? page - 1 : null,
      total_pages: totalPages,
      total_count: items.length,
    },
  };
}

export class LagoApi {
  private customers = new Map<string, Customer>();
  private subscriptions: Subscription[] = [];
  private metrics = new Map<string, Metric>();
  private events: StoredEvent[] = [];
  /** The Postgres unique index (organization, external_subscription_id, transaction_id). */
  private unique = new Set<string>();
  duplicatesRefused = 0;

  constructor(
    seed: SandboxSeed["lago"],
    private readonly opts: { batchMax: number; now: () => Date },
  ) {
    const created = new Date(0).toISOString();
    for (const c of seed?.customers ?? []) {
      const customer: Customer = { lago_id: randomUUID(), external_id: c.external_id, name: c.name ?? c.external_id, created_at: created };
      this.customers.set(c.external_id, customer);
      for (const s of c.subscriptions ?? []) {
        this.subscriptions.push({
          lago_id: randomUUID(),
          external_id: s.external_id,
          external_customer_id: c.external_id,
          lago_customer_id: customer.lago_id,
          plan_code: s.plan_code,
          status: s.status ?? "active",
          startedMs: s.started_at ? Date.parse(s.started_at) : DEFAULT_STARTED_AT,
          created_at: created,
        });
      }
    }
    for (const m of seed?.billable_metrics ?? []) {
      this.metrics.set(m.code, {
        lago_id: randomUUID(),
        code: m.code,
        name: m.name ?? m.code,
        aggregation_type: m.aggregation_type,
        field_name: m.aggregation_type === "count_agg" ? null : (m.field_name ?? null),
        created_at: created,
      });
    }
  }

  clearEvents(): void {
    this.events = [];
    this.unique.clear();
    this.duplicatesRefused = 0;
  }

  static isIngest(method: string, path: string): boolean {
    return method === "POST" && (path === "/events" || path === "/events/batch");
  }

  /** Counts events in an ingest body for the request log; never throws. */
  static eventsInBody(path: string, body: string): number {
    const p = parseJson(body);
    if (!p.ok || !isPlainObject(p.value)) return 0;
    if (path === "/events/batch") return Array.isArray(p.value.events) ? p.value.events.length : 0;
    return isPlainObject(p.value.event) ? 1 : 0;
  }

  handle(req: ApiRequest, expectedKey: string, acceptThen500: boolean): Reply {
    if (bearerToken(req.headers) !== expectedKey) return unauthorized;
    let segs: string[];
    try {
      segs = req.path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return badRequest("invalid path encoding");
    }
    const [a, b, c] = segs;
    const get = req.method === "GET";
    if (req.method === "POST" && a === "events" && segs.length === 1) return this.createOne(req, acceptThen500);
    if (req.method === "POST" && a === "events" && b === "batch" && segs.length === 2) return this.createBatch(req, acceptThen500);
    if (get && a === "events" && segs.length === 1) return this.listEvents(req.query);
    if (get && a === "events" && b !== undefined && segs.length === 2) return this.showEvent(b);
    if (get && a === "subscriptions" && segs.length === 1) return this.listSubscriptions(req.query);
    if (get && a === "billable_metrics" && segs.length === 1) return this.listMetrics(req.query);
    if (get && a === "billable_metrics" && b !== undefined && segs.length === 2) return this.showMetric(b);
    if (get && a === "customers" && b !== undefined && c === "current_usage" && segs.length === 3) return this.currentUsage(b, req.query);
    return { status: 404, body: { status: 404, error: "Not Found", code: "route_not_found" } };
  }

  // --- ingestion -------------------------------------------------------------------------------

  private parseBody(req: ApiRequest): { ok: true; value: Record<string, unknown> } | { ok: false; reply: Reply } {
    // Rails only parses JSON params for a JSON content type; anything else leaves params empty.
    const ct = req.headers["content-type"] ?? "";
    if (!/^application\/json\b/i.test(ct)) return { ok: false, reply: badRequest("param is missing or the value is empty or invalid") };
    const p = parseJson(req.body);
    if (!p.ok || !isPlainObject(p.value)) return { ok: false, reply: badRequest(`Error occurred while parsing request parameters`) };
    return { ok: true, value: p.value };
  }

  /** Shape checks done synchronously by CreateBatchService / CreateService (lago.md §2.2 step 3). */
  private validate(raw: unknown): { errors: FieldErrors | null; event: Omit<StoredEvent, "lago_id" | "created_at"> } {
    const e = isPlainObject(raw) ? raw : {};
    const errors: FieldErrors = {};
    if (isBlank(e.transaction_id)) errors.transaction_id = ["value_is_mandatory"];
    if (isBlank(e.external_subscription_id)) errors.external_subscription_id = ["value_is_mandatory"];
    if (isBlank(e.code)) errors.code = ["value_is_mandatory"];
    let timestampMs = this.opts.now().getTime();
    if (e.timestamp !== undefined && e.timestamp !== null) {
      const ms = parseUnixSeconds(e.timestamp);
      if (ms === null) errors.timestamp = ["invalid_format"];
      else timestampMs = ms;
    }
    const ptac = e.precise_total_amount_cents;
    return {
      errors: Object.keys(errors).length ? errors : null,
      event: {
        transaction_id: String(e.transaction_id ?? ""),
        external_subscription_id: String(e.external_subscription_id ?? ""),
        code: String(e.code ?? ""),
        timestampMs,
        // Rails permits `properties: {}` only; anything else is dropped silently.
        properties: isPlainObject(e.properties) ? structuredClone(e.properties) : {},
        precise_total_amount_cents: typeof ptac === "string" || typeof ptac === "number" ? String(ptac) : null,
      },
    };
  }

  private uniqueKey(e: { external_subscription_id: string; transaction_id: string }): string {
    return `${e.external_subscription_id}\u0000${e.transaction_id}`;
  }

  private commit(events: Omit<StoredEvent, "lago_id" | "created_at">[]): StoredEvent[] {
    const created = isoMs(this.opts.now().getTime()).replace(/\.\d{3}Z$/, "Z");
    const stored = events.map((e) => ({ ...e, lago_id: randomUUID(), created_at: created }));
    for (const e of stored) {
      this.events.push(e);
      this.unique.add(this.uniqueKey(e));
    }
    return stored;
  }

  private createOne(req: ApiRequest, acceptThen500: boolean): Reply {
    const body = this.parseBody(req);
    if (!body.ok) return body.reply;
    if (!isPlainObject(body.value.event)) return badRequest("param is missing or the value is empty or invalid: event");
    const { errors, event } = this.validate(body.value.event);
    if (errors) return validation(errors);
    if (this.unique.has(this.uniqueKey(event))) {
      this.duplicatesRefused++;
      return validation({ transaction_id: ["value_already_exist"] });
    }
    const [stored] = this.commit([event]);
    if (acceptThen500) return lagoServerError;
    return { status: 200, body: { event: this.serializeEvent(stored!, false) } };
  }

  private createBatch(req: ApiRequest, acceptThen500: boolean): Reply {
    const body = this.parseBody(req);
    if (!body.ok) return body.reply;
    const list = body.value.events;
    if (list === undefined || list === null) return badRequest("param is missing or the value is empty or invalid: events");
    if (!Array.isArray(list) || list.length === 0) return validation({ events: ["no_events"] });
    if (list.length > this.opts.batchMax) return validation({ events: ["too_many_events"] });

    const checked = list.map((raw) => this.validate(raw));
    const invalid: Record<string, FieldErrors> = {};
    checked.forEach((c, i) => {
      if (c.errors) invalid[String(i)] = c.errors;
    });
    // Shape errors stop the batch before the insert, so duplicates are only reported once the shape is clean.
    if (Object.keys(invalid).length) return validation(invalid);

    const seen = new Set<string>();
    const dupes: Record<string, FieldErrors> = {};
    checked.forEach((c, i) => {
      const k = this.uniqueKey(c.event);
      if (this.unique.has(k) || seen.has(k)) dupes[String(i)] = { transaction_id: ["value_already_exist"] };
      seen.add(k);
    });
    if (Object.keys(dupes).length) {
      this.duplicatesRefused += Object.keys(dupes).length;
      return validation(dupes);
    }
    const stored = this.commit(checked.map((c) => c.event));
    if (acceptThen500) return lagoServerError;
    return { status: 200, body: { events: stored.map((e) => this.serializeEvent(e, false)) } };
  }

  // --- read-back -------------------------------------------------------------------------------

  private subscriptionOf(externalId: string): Subscription | undefined {
    return this.subscriptions.find((s) => s.external_id === externalId);
  }

  private serializeEvent(e: StoredEvent, processed: boolean) {
    // Subscription matching is asynchronous in Lago: the create answer always has null ids.
    const sub = processed ? this.subscriptionOf(e.external_subscription_id) : undefined;
    return {
      lago_id: e.lago_id,
      transaction_id: e.transaction_id,
      lago_customer_id: sub?.lago_customer_id ?? null,
      code: e.code,
      timestamp: isoMs(e.timestampMs),
      precise_total_amount_cents: e.precise_total_amount_cents,
      properties: e.properties,
      lago_subscription_id: sub?.lago_id ?? null,
      external_subscription_id: e.external_subscription_id,
      created_at: e.created_at,
    };
  }

  private listEvents(q: URLSearchParams): Reply {
    const bounds: Record<string, number> = {};
    const errors: FieldErrors = {};
    for (const k of ["timestamp_from", "timestamp_to"]) {
      const v = q.get(k);
      if (v === null || v === "") continue;
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) errors[k] = ["invalid_date"];
      else bounds[k] = ms;
    }
    if (Object.keys(errors).length) return validation(errors);
    const sub = q.get("external_subscription_id");
    const code = q.get("code");
    const from = bounds.timestamp_from;
    const to = bounds.timestamp_to;
    const matching = this.events
      .filter((e) => (!sub || e.external_subscription_id === sub) && (!code || e.code === code))
      // Both bounds are inclusive (app/queries/events_query.rb).
      .filter((e) => (from === undefined || e.timestampMs >= from) && (to === undefined || e.timestampMs <= to))
      .sort((x, y) => y.timestampMs - x.timestampMs || (x.transaction_id < y.transaction_id ? -1 : x.transaction_id > y.transaction_id ? 1 : 0));
    const page = paginate(matching, q);
    return { status: 200, body: { events: page.items.map((e) => this.serializeEvent(e, true)), meta: page.meta } };
  }

  private showEvent(transactionId: string): Reply {
    const e = this.events.find((x) => x.transaction_id === transactionId);
    return e ? { status: 200, body: { event: this.serializeEvent(e, true) } } : notFound("event_not_found");
  }

  private serializeSubscription(s: Subscription) {
    const period = this.period(s);
    return {
      lago_id: s.lago_id,
      external_id: s.external_id,
      lago_customer_id: s.lago_customer_id,
      external_customer_id: s.external_customer_id,
      billing_time: "calendar",
      name: null,
      plan_code: s.plan_code,
      status: s.status,
      created_at: s.created_at,
      canceled_at: null,
      started_at: s.status === "pending" || s.status === "canceled" ? null : isoMs(s.startedMs),
      ending_at: null,
      subscription_at: isoMs(s.startedMs),
      terminated_at: s.status === "terminated" ? isoMs(period.toMs) : null,
      previous_plan_code: null,
      next_plan_code: null,
      downgrade_plan_date: null,
      trial_ended_at: null,
      current_billing_period_started_at: s.status === "active" ? isoMs(period.fromMs) : null,
      current_billing_period_ending_at: s.status === "active" ? isoMs(period.toMs) : null,
      on_termination_credit_note: null,
      on_termination_invoice: "generate",
    };
  }

  private listSubscriptions(q: URLSearchParams): Reply {
    const customer = q.get("external_customer_id");
    const plan = q.get("plan_code");
    const statuses = q.getAll("status[]");
    const wanted = statuses.length ? statuses : ["active"];
    const list = this.subscriptions.filter(
      (s) => (!customer || s.external_customer_id === customer) && (!plan || s.plan_code === plan) && wanted.includes(s.status),
    );
    const page = paginate(list, q);
    return { status: 200, body: { subscriptions: page.items.map((s) => this.serializeSubscription(s)), meta: page.meta } };
  }

  private serializeMetric(m: Metric) {
    return {
      lago_id: m.lago_id,
      name: m.name,
      code: m.code,
      description: null,
      aggregation_type: m.aggregation_type,
      weighted_interval: null,
      recurring: false,
      rounding_function: null,
      rounding_precision: null,
      created_at: m.created_at,
      field_name: m.field_name,
      filters: [],
    };
  }

  private listMetrics(q: URLSearchParams): Reply {
    const page = paginate([...this.metrics.values()], q);
    return { status: 200, body: { billable_metrics: page.items.map((m) => this.serializeMetric(m)), meta: page.meta } };
  }

  private showMetric(code: string): Reply {
    const m = this.metrics.get(code);
    return m ? { status: 200, body: { billable_metric: this.serializeMetric(m) } } : notFound("billable_metric_not_found");
  }

  /** Calendar monthly billing in UTC, starting no earlier than the subscription. */
  private period(s: Subscription): { fromMs: number; toMs: number; nextMs: number } {
    const now = this.opts.now();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const nextMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    return { fromMs: Math.max(monthStart, s.startedMs), toMs: nextMs - 1000, nextMs };
  }

  private aggregate(m: Metric, events: StoredEvent[]): number {
    if (m.aggregation_type === "count_agg") return events.length;
    const values = events.map((e) => ({ v: numeric(e.properties[m.field_name ?? ""]), t: e.timestampMs })).filter((x) => x.v !== null) as { v: number; t: number }[];
    if (!values.length) return 0;
    if (m.aggregation_type === "max_agg") return Math.max(...values.map((x) => x.v));
    if (m.aggregation_type === "latest_agg") return values.reduce((a, b) => (b.t >= a.t ? b : a)).v;
    return values.reduce((a, x) => a + x.v, 0);
  }

  /**
   * The sandbox has no plans: every billable metric is charged once (standard model, price 0),
   * so there is one `charges_usage` entry per metric.
   */
  private currentUsage(externalCustomerId: string, q: URLSearchParams): Reply {
    const customer = this.customers.get(externalCustomerId);
    if (!customer) return notFound("customer_not_found");
    const subId = q.get("external_subscription_id");
    const sub = this.subscriptions.find((s) => s.external_id === subId && s.external_customer_id === externalCustomerId && s.status === "active");
    if (!sub) return notAllowed("no_active_subscription");
    const only = q.get("billable_metric_code");
    const metrics = [...this.metrics.values()].filter((m) => !only || m.code === only);
    if (only && !metrics.length) return notFound("charge_not_found");
    const { fromMs, toMs, nextMs } = this.period(sub);
    const inPeriod = this.events.filter((e) => e.external_subscription_id === sub.external_id && e.timestampMs >= fromMs && e.timestampMs < nextMs);
    const charges = metrics.map((m) => {
      const events = inPeriod.filter((e) => e.code === m.code);
      const units = decimalString(this.aggregate(m, events));
      return {
        units,
        total_aggregated_units: units,
        events_count: events.length,
        amount_cents: 0,
        amount_currency: "USD",
        charge: { lago_id: m.lago_id, charge_model: "standard", invoice_display_name: null },
        billable_metric: { lago_id: m.lago_id, name: m.name, code: m.code, aggregation_type: m.aggregation_type },
        filters: [],
        grouped_usage: [],
      };
    });
    return {
      status: 200,
      body: {
        customer_usage: {
          from_datetime: isoMs(fromMs).replace(/\.\d{3}Z$/, "Z"),
          to_datetime: isoMs(toMs).replace(/\.\d{3}Z$/, "Z"),
          issuing_date: isoMs(nextMs).slice(0, 10),
          lago_invoice_id: null,
          currency: "USD",
          amount_cents: 0,
          taxes_amount_cents: 0,
          total_amount_cents: 0,
          charges_usage: charges,
        },
      },
    };
  }

  // --- inspection ------------------------------------------------------------------------------

  storedEvents(): LagoStoredEvent[] {
    return this.events.map((e) => ({
      transaction_id: e.transaction_id,
      external_subscription_id: e.external_subscription_id,
      code: e.code,
      timestamp: isoMs(e.timestampMs),
      properties: structuredClone(e.properties),
      precise_total_amount_cents: e.precise_total_amount_cents,
      created_at: e.created_at,
    }));
  }

  /** Test-only: forgets stored events by transaction_id (an event the destination lost). Returns how many. */
  deleteEvents(ids: string[]): number {
    const drop = new Set(ids);
    const gone = this.events.filter((e) => drop.has(e.transaction_id));
    this.events = this.events.filter((e) => !drop.has(e.transaction_id));
    for (const e of gone) this.unique.delete(this.uniqueKey(e));
    return gone.length;
  }

  eventCount(): number {
    return this.events.length;
  }

  totals(): UsageTotal[] {
    const rows = new Map<string, UsageTotal>();
    for (const e of this.events) {
      const customer = this.subscriptionOf(e.external_subscription_id)?.external_customer_id ?? "";
      const field = this.metrics.get(e.code)?.field_name ?? "value";
      const model = typeof e.properties.model === "string" ? e.properties.model : "";
      const k = `${customer}\u001f${e.code}\u001f${model}`;
      const row = rows.get(k) ?? { customer, metric: e.code, model, value: 0, events: 0 };
      row.value += numeric(e.properties[field]) ?? 0;
      row.events++;
      rows.set(k, row);
    }
    return [...rows.values()];
  }
}
