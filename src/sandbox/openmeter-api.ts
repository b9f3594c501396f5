/**
 * @module OpenMeter-compatible API (below /openmeter), as the Cloud spec and the server code
 * behave (openmeter.md §1–§4): exact content-type comparison, schema-invalid batches refused
 * whole, 204 on success, duplicates stored unless dedupe is on, time kept at second precision,
 * meter queries over [from, to) computed from the raw events at query time.
 */
import { randomBytes } from "node:crypto";
import type { UsageTotal } from "../model/index.js";
import { isoSeconds, isPlainObject, parseJson, parseRfc3339, statusText, type ApiRequest, type Reply } from "./http.js";
import type { MeterAggregation, OpenMeterStoredEvent, SandboxSeed } from "./sandbox.js";

const CONTENT_TYPES = ["application/cloudevents+json", "application/cloudevents-batch+json", "application/json"] as const;
const WINDOWS = ["MINUTE", "HOUR", "DAY", "MONTH"] as const;
type WindowSize = (typeof WINDOWS)[number];

interface Meter {
  id: string;
  slug: string;
  name: string;
  aggregation: MeterAggregation;
  eventType: string;
  valueProperty?: string;
  groupBy: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface StoredEvent {
  row: number;
  id: string;
  source: string;
  specversion: string;
  type: string;
  subject: string;
  timeSec: number;
  data: Record<string, unknown> | null;
  ingestedAt: string;
  /** Wall-clock ms from which list and query endpoints see the event (`openmeterListLagMs`). */
  listableAt: number;
}

let requestSeq = 0;

export function problem(status: number, detail: string, headers?: Record<string, string>): Reply {
  return {
    status,
    headers,
    contentType: "application/problem+json",
    // OpenMeter blanks the detail of 500s (pkg/models/problem.go).
    body: { type: "about:blank", title: statusText(status), status, detail: status === 500 ? "" : detail, instance: `urn:request:sandbox/${++requestSeq}` },
  };
}

/** A ULID-shaped id (Crockford base32, first char 0-7), as OpenMeter ids look. */
function ulid(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const bytes = randomBytes(25);
  return "0" + [...bytes].map((b) => alphabet[b % 32]).join("");
}

/** Plain `$.a.b` paths only — what both of OpenMeter's JSONPath engines agree on (openmeter.md §3). */
export function jsonPath(data: unknown, path: string): unknown {
  if (!path.startsWith("$")) return undefined;
  let cur: unknown = data;
  for (const key of path.slice(1).split(".").filter(Boolean)) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** toFloat64OrNull(JSON_VALUE(...)): numbers and numeric strings count, anything else is NULL. */
function floatOrNull(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** JSON_VALUE renders scalars as strings and anything missing or non-scalar as "". */
function groupValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return "";
}

/** One CloudEvent against the spec schema `Event`; returns the first violation like the validator. */
function schemaError(ev: unknown, at: string): string | null {
  if (!isPlainObject(ev)) return `Error at "${at}": value must be an object`;
  for (const k of ["id", "source", "specversion", "type", "subject"]) {
    if (!(k in ev) || ev[k] === undefined) return `Error at "${at}": property "${k}" is missing`;
    if (typeof ev[k] !== "string") return `Error at "${at}/${k}": value must be a string`;
    if ((ev[k] as string).length < 1) return `Error at "${at}/${k}": minimum string length is 1`;
  }
  if (ev.time !== undefined && ev.time !== null && parseRfc3339(ev.time) === null) return `Error at "${at}/time": string doesn't match the format "date-time"`;
  if (ev.data !== undefined && ev.data !== null && !isPlainObject(ev.data)) return `Error at "${at}/data": value must be an object`;
  if (ev.datacontenttype !== undefined && ev.datacontenttype !== null && ev.datacontenttype !== "application/json")
    return `Error at "${at}/datacontenttype": value is not one of the allowed values ["application/json"]`;
  return null;
}

/** SQL LIKE with % and _ wildcards. */
function likeToRegex(pattern: string, flags = ""): RegExp {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".");
  return new RegExp(`^${escaped}$`, flags);
}

type Filter = Record<string, unknown>;

function checkSingleOperator(f: unknown, depth: number): string | null {
  if (!isPlainObject(f)) return "filter is invalid: filter must be an object";
  const ops = Object.keys(f).filter((k) => f[k] !== undefined && f[k] !== null);
  if (ops.length > 1) return "filter is invalid: multiple operators are set";
  const op = ops[0];
  if (op === "$and" || op === "$or") {
    if (depth >= 1) return "filter is invalid: filter complexity exceeds the maximum depth";
    const list = f[op];
    if (!Array.isArray(list)) return `filter is invalid: ${op} must be an array`;
    for (const sub of list) {
      const e = checkSingleOperator(sub, depth + 1);
      if (e) return e;
    }
  }
  return null;
}

function matchString(f: Filter, v: string): boolean {
  const [op, arg] = Object.entries(f).find(([, x]) => x !== undefined && x !== null) ?? [];
  switch (op) {
    case undefined: return true;
    case "$eq": return v === arg;
    case "$ne": return v !== arg;
    case "$in": return (arg as string[]).includes(v);
    case "$nin": return !(arg as string[]).includes(v);
    case "$like": return likeToRegex(String(arg)).test(v);
    case "$nlike": return !likeToRegex(String(arg)).test(v);
    case "$ilike": return likeToRegex(String(arg), "i").test(v);
    case "$nilike": return !likeToRegex(String(arg), "i").test(v);
    case "$gt": return v > String(arg);
    case "$gte": return v >= String(arg);
    case "$lt": return v < String(arg);
    case "$lte": return v <= String(arg);
    case "$and": return (arg as Filter[]).every((s) => matchString(s, v));
    case "$or": return (arg as Filter[]).some((s) => matchString(s, v));
    default: return false;
  }
}

function matchTime(f: Filter, ms: number): boolean {
  const [op, arg] = Object.entries(f).find(([, x]) => x !== undefined && x !== null) ?? [];
  const t = () => Date.parse(String(arg));
  switch (op) {
    case undefined: return true;
    case "$gt": return ms > t();
    case "$gte": return ms >= t();
    case "$lt": return ms < t();
    case "$lte": return ms <= t();
    case "$and": return (arg as Filter[]).every((s) => matchTime(s, ms));
    case "$or": return (arg as Filter[]).some((s) => matchTime(s, ms));
    default: return false;
  }
}

function windowStart(ms: number, size: WindowSize): number {
  const d = new Date(ms);
  switch (size) {
    case "MINUTE": return ms - (ms % 60_000);
    case "HOUR": return ms - (ms % 3_600_000);
    case "DAY": return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    case "MONTH": return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
}

function windowEnd(start: number, size: WindowSize): number {
  const d = new Date(start);
  switch (size) {
    case "MINUTE": return start + 60_000;
    case "HOUR": return start + 3_600_000;
    case "DAY": return start + 86_400_000;
    case "MONTH": return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
}

export class OpenMeterApi {
  private meters: Meter[] = [];
  private events: StoredEvent[] = [];
  private seen = new Set<string>();
  private rowSeq = 0;
  duplicatesStored = 0;
  duplicatesDropped = 0;

  constructor(
    seed: SandboxSeed["openmeter"],
    private readonly opts: { dedupe: boolean; now: () => Date; listLagMs?: number },
  ) {
    const created = new Date(0).toISOString();
    for (const m of seed?.meters ?? []) {
      this.meters.push({ id: ulid(), slug: m.slug, name: m.name ?? m.slug, aggregation: m.aggregation, eventType: m.eventType, valueProperty: m.valueProperty, groupBy: { ...m.groupBy }, createdAt: created, updatedAt: created });
    }
  }

  /** Test-only: forgets every stored copy of these event ids (an event the destination lost). Returns how many. */
  deleteEvents(ids: string[]): number {
    const drop = new Set(ids);
    const gone = this.events.filter((e) => drop.has(e.id));
    this.events = this.events.filter((e) => !drop.has(e.id));
    for (const e of gone) this.seen.delete(`${e.source}\u0000${e.id}`);
    return gone.length;
  }

  clearEvents(): void {
    this.events = [];
    this.seen.clear();
    this.duplicatesStored = 0;
    this.duplicatesDropped = 0;
  }

  static isIngest(method: string, path: string): boolean {
    return method === "POST" && path === "/api/v1/events";
  }

  static eventsInBody(body: string): number {
    const p = parseJson(body);
    if (!p.ok) return 0;
    return Array.isArray(p.value) ? p.value.length : isPlainObject(p.value) ? 1 : 0;
  }

  handle(req: ApiRequest, expectedKey: string, acceptThen500: boolean): Reply {
    const auth = req.headers.authorization;
    const token = typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined;
    if (token !== expectedKey) return problem(401, "unauthorized");
    let segs: string[];
    try {
      segs = req.path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return problem(400, "invalid path encoding");
    }
    const route = segs.join("/");
    if (req.method === "POST" && route === "api/v1/events") return this.ingest(req, acceptThen500);
    if (req.method === "GET" && route === "api/v2/events") return this.listV2(req.query);
    if (req.method === "GET" && route === "api/v1/meters") return { status: 200, body: this.meters.map((m) => this.serializeMeter(m)) };
    if (req.method === "GET" && segs[0] === "api" && segs[1] === "v1" && segs[2] === "meters" && segs[3] !== undefined) {
      const meter = this.meters.find((m) => m.slug === segs[3] || m.id === segs[3]);
      if (segs.length === 4) return meter ? { status: 200, body: this.serializeMeter(meter) } : problem(404, `meter not found: ${segs[3]}`);
      if (segs.length === 5 && segs[4] === "query") return meter ? this.query(meter, req.query) : problem(404, `meter not found: ${segs[3]}`);
    }
    return problem(404, "not found");
  }

  private serializeMeter(m: Meter) {
    return {
      id: m.id,
      slug: m.slug,
      name: m.name,
      aggregation: m.aggregation,
      eventType: m.eventType,
      ...(m.valueProperty !== undefined ? { valueProperty: m.valueProperty } : {}),
      groupBy: m.groupBy,
      createdAt: m.createdAt,
      updatedAt: m.updatedAt,
    };
  }

  // --- ingestion -------------------------------------------------------------------------------

  private ingest(req: ApiRequest, acceptThen500: boolean): Reply {
    const ct = req.headers["content-type"] ?? "";
    // The handler compares the raw header string, so "application/json; charset=utf-8" is refused.
    if (!(CONTENT_TYPES as readonly string[]).includes(ct)) return problem(400, `invalid content type: ${ct}`);
    const parsed = parseJson(req.body);
    if (!parsed.ok) return problem(400, `invalid event: ${parsed.error}`);
    const v = parsed.value;
    let list: unknown[];
    if (ct === "application/cloudevents+json") list = [v];
    else if (ct === "application/cloudevents-batch+json") {
      if (!Array.isArray(v)) return problem(400, `request body has an error: doesn't match schema: Error at "/": value must be an array`);
      list = v;
    } else {
      if (Array.isArray(v)) list = v;
      else if (isPlainObject(v)) list = [v];
      else return problem(400, "invalid event: no events found");
    }
    // The request validator checks the whole body before the handler: one bad event refuses all.
    for (let i = 0; i < list.length; i++) {
      const err = schemaError(list[i], Array.isArray(v) ? `/${i}` : "");
      if (err) return problem(400, `request body has an error: doesn't match schema: ${err}`);
    }
    const events = list as Record<string, unknown>[];
    // The handler forwards events one by one; a failure midway leaves the first part stored.
    const upTo = acceptThen500 ? Math.ceil(events.length / 2) : events.length;
    const now = this.opts.now().getTime();
    for (const e of events.slice(0, upTo)) this.store(e, now);
    if (acceptThen500) return problem(500, "");
    return { status: 204 };
  }

  private store(e: Record<string, unknown>, nowMs: number): void {
    const key = `${String(e.source)}\u0000${String(e.id)}`;
    if (this.seen.has(key)) {
      if (this.opts.dedupe) {
        this.duplicatesDropped++;
        return;
      }
      this.duplicatesStored++;
    }
    this.seen.add(key);
    const t = e.time === undefined || e.time === null ? nowMs : parseRfc3339(e.time)!.getTime();
    this.events.push({
      row: ++this.rowSeq,
      id: String(e.id),
      source: String(e.source),
      specversion: String(e.specversion),
      type: String(e.type),
      subject: String(e.subject),
      // Stored as Unix seconds: sub-second parts are truncated (openmeter.md §1.2).
      timeSec: Math.floor(t / 1000),
      data: isPlainObject(e.data) ? structuredClone(e.data) : null,
      ingestedAt: new Date(nowMs).toISOString(),
      listableAt: Date.now() + (this.opts.listLagMs ?? 0),
    });
  }

  /** What the read endpoints see: events the (simulated) Kafka → sink pipeline has stored by now. */
  private listable(): StoredEvent[] {
    if (!this.opts.listLagMs) return this.events;
    const t = Date.now();
    return this.events.filter((e) => e.listableAt <= t);
  }

  // --- meter query -----------------------------------------------------------------------------

  private query(meter: Meter, q: URLSearchParams): Reply {
    const fromRaw = q.get("from");
    const toRaw = q.get("to");
    const from = fromRaw === null ? null : parseRfc3339(fromRaw);
    const to = toRaw === null ? null : parseRfc3339(toRaw);
    if (fromRaw !== null && !from) return problem(400, `invalid from: ${fromRaw}`);
    if (toRaw !== null && !to) return problem(400, `invalid to: ${toRaw}`);
    if (from && to && from.getTime() >= to.getTime()) return problem(400, "invalid query: from must be before to");
    const windowSizeRaw = q.get("windowSize");
    if (windowSizeRaw !== null && !(WINDOWS as readonly string[]).includes(windowSizeRaw)) return problem(400, `invalid windowSize: ${windowSizeRaw}`);
    const windowSize = windowSizeRaw as WindowSize | null;
    const tz = q.get("windowTimeZone");
    if (tz !== null && tz !== "UTC") return problem(400, `the sandbox only supports windowTimeZone=UTC (got ${tz})`);

    const subjects = q.getAll("subject");
    const groupBy = [...new Set(q.getAll("groupBy"))];
    for (const g of groupBy) {
      if (g !== "subject" && !(g in meter.groupBy)) return problem(400, `invalid group by: ${g}`);
    }
    // A subject filter implies grouping by subject (meter/httphandler/mapping.go).
    const bySubject = groupBy.includes("subject") || subjects.length > 0;
    const keys = groupBy.filter((g) => g !== "subject");
    const filterGroupBy = new Map<string, string[]>();
    for (const [k, v] of q.entries()) {
      const m = /^filterGroupBy\[(.+)\]$/.exec(k);
      if (!m) continue;
      if (!(m[1]! in meter.groupBy)) return problem(400, `invalid group by filter: ${m[1]}`);
      filterGroupBy.set(m[1]!, [...(filterGroupBy.get(m[1]!) ?? []), v]);
    }

    // Second precision, half-open: time >= from.Unix() AND time < to.Unix() (meter_query.go).
    const fromSec = from ? Math.floor(from.getTime() / 1000) : -Infinity;
    const toSec = to ? Math.floor(to.getTime() / 1000) : Infinity;
    const rows = new Map<string, { subject: string | null; groupBy: Record<string, string>; window: number | null; values: (number | null)[]; raw: unknown[]; times: number[] }>();
    for (const e of this.listable()) {
      if (e.type !== meter.eventType || e.timeSec < fromSec || e.timeSec >= toSec) continue;
      if (subjects.length && !subjects.includes(e.subject)) continue;
      let filteredOut = false;
      for (const [k, allowed] of filterGroupBy) if (!allowed.includes(groupValue(jsonPath(e.data, meter.groupBy[k]!)))) filteredOut = true;
      if (filteredOut) continue;
      const gb: Record<string, string> = {};
      for (const k of keys) gb[k] = groupValue(jsonPath(e.data, meter.groupBy[k]!));
      const win = windowSize ? windowStart(e.timeSec * 1000, windowSize) : null;
      const subject = bySubject ? e.subject : null;
      const key = JSON.stringify([subject, keys.map((k) => gb[k]), win]);
      const row = rows.get(key) ?? { subject, groupBy: gb, window: win, values: [], raw: [], times: [] };
      const raw = meter.valueProperty ? jsonPath(e.data, meter.valueProperty) : undefined;
      row.values.push(floatOrNull(raw));
      row.raw.push(raw);
      row.times.push(e.timeSec * 1000);
      rows.set(key, row);
    }

    const data = [];
    for (const r of rows.values()) {
      const value = this.aggregate(meter.aggregation, r.values, r.raw, r.times);
      // Rows whose aggregate is NULL are skipped (scanRows).
      if (value === null) continue;
      let start: number;
      let end: number;
      if (windowSize && r.window !== null) {
        start = r.window;
        end = windowEnd(r.window, windowSize);
      } else {
        // Without a window OpenMeter reports the group's first and last event time, to the minute.
        start = windowStart(Math.min(...r.times), "MINUTE");
        end = windowStart(Math.max(...r.times), "MINUTE") + 60_000;
      }
      data.push({ value, windowStart: isoSeconds(start), windowEnd: isoSeconds(end), subject: r.subject, groupBy: r.groupBy });
    }
    data.sort((a, b) => a.windowStart.localeCompare(b.windowStart) || String(a.subject).localeCompare(String(b.subject)) || JSON.stringify(a.groupBy).localeCompare(JSON.stringify(b.groupBy)));
    return {
      status: 200,
      body: {
        ...(from ? { from: from.toISOString() } : {}),
        ...(to ? { to: to.toISOString() } : {}),
        ...(windowSize ? { windowSize } : {}),
        data,
      },
    };
  }

  private aggregate(agg: MeterAggregation, values: (number | null)[], raw: unknown[], times: number[]): number | null {
    if (agg === "COUNT") return values.length;
    if (agg === "UNIQUE_COUNT") return new Set(raw.filter((x) => typeof x === "string")).size;
    const present = values.map((v, i) => ({ v, t: times[i]! })).filter((x): x is { v: number; t: number } => x.v !== null);
    if (!present.length) return null;
    const nums = present.map((x) => x.v);
    switch (agg) {
      case "SUM": return nums.reduce((a, b) => a + b, 0);
      case "AVG": return nums.reduce((a, b) => a + b, 0) / nums.length;
      case "MIN": return Math.min(...nums);
      case "MAX": return Math.max(...nums);
      case "LATEST": return present.reduce((a, b) => (b.t >= a.t ? b : a)).v;
    }
  }

  // --- event listing (v2) ----------------------------------------------------------------------

  private validationError(e: StoredEvent): string | undefined {
    const meters = this.meters.filter((m) => m.eventType === e.type);
    if (!meters.length) return `no meter found for event type: ${e.type}`;
    const errors: string[] = [];
    for (const m of meters) {
      if (m.aggregation === "COUNT" || !m.valueProperty) continue;
      const raw = jsonPath(e.data, m.valueProperty);
      if (raw === undefined) errors.push(`invalid event: missing value property: "${m.valueProperty}"`);
      else if (m.aggregation !== "UNIQUE_COUNT" && floatOrNull(raw) === null) errors.push(`invalid event: value cannot be parsed as float64: ${JSON.stringify(raw)}`);
    }
    return errors.length ? errors.join("\n") : undefined;
  }

  private listV2(q: URLSearchParams): Reply {
    const limitRaw = q.get("limit");
    const limit = limitRaw === null ? 100 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return problem(400, "invalid limit: must be between 1 and 100");
    let filter: Record<string, unknown> = {};
    const filterRaw = q.get("filter");
    if (filterRaw !== null) {
      const p = parseJson(filterRaw);
      if (!p.ok || !isPlainObject(p.value)) return problem(400, "invalid filter: must be a JSON object");
      filter = p.value;
      for (const [field, f] of Object.entries(filter)) {
        if (!["id", "source", "subject", "type", "time", "ingestedAt", "customerId"].includes(field)) return problem(400, `invalid filter: unknown field ${field}`);
        const err = checkSingleOperator(f, 0);
        if (err) return problem(400, err);
      }
    }
    let after: { t: number; r: number } | null = null;
    const cursor = q.get("cursor");
    if (cursor !== null) {
      try {
        const c = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { t: number; r: number };
        if (typeof c.t !== "number" || typeof c.r !== "number") throw new Error("bad cursor");
        after = c;
      } catch {
        return problem(400, "invalid cursor");
      }
    }
    const f = (k: string) => (isPlainObject(filter[k]) ? (filter[k] as Filter) : null);
    const matching = this.listable()
      .filter((e) => {
        for (const k of ["id", "source", "subject", "type"] as const) {
          const fs = f(k);
          if (fs && !matchString(fs, e[k])) return false;
        }
        const ft = f("time");
        if (ft && !matchTime(ft, e.timeSec * 1000)) return false;
        const fi = f("ingestedAt");
        if (fi && !matchTime(fi, Date.parse(e.ingestedAt))) return false;
        // The sandbox has no customers, so no event is attributed to one.
        if (f("customerId")) return false;
        return true;
      })
      .sort((a, b) => b.timeSec - a.timeSec || b.row - a.row)
      .filter((e) => !after || e.timeSec < after.t || (e.timeSec === after.t && e.row < after.r));
    const page = matching.slice(0, limit);
    const last = page[page.length - 1];
    const items = page.map((e) => {
      const validationError = this.validationError(e);
      return {
        event: { id: e.id, source: e.source, specversion: e.specversion, type: e.type, subject: e.subject, time: isoSeconds(e.timeSec * 1000), data: e.data },
        ...(validationError ? { validationError } : {}),
        ingestedAt: e.ingestedAt,
        storedAt: e.ingestedAt,
      };
    });
    // nextCursor only when a full page was returned (meterevent/adapter/event.go).
    const nextCursor = page.length === limit && last ? Buffer.from(JSON.stringify({ t: last.timeSec, r: last.row })).toString("base64url") : undefined;
    return { status: 200, body: { items, ...(nextCursor ? { nextCursor } : {}) } };
  }

  // --- inspection ------------------------------------------------------------------------------

  storedEvents(): OpenMeterStoredEvent[] {
    return this.events.map((e) => ({
      id: e.id,
      source: e.source,
      specversion: e.specversion,
      type: e.type,
      subject: e.subject,
      time: isoSeconds(e.timeSec * 1000),
      data: e.data === null ? null : structuredClone(e.data),
      ingestedAt: e.ingestedAt,
    }));
  }

  eventCount(): number {
    return this.events.length;
  }

  totals(): UsageTotal[] {
    const rows = new Map<string, UsageTotal>();
    for (const e of this.events) {
      const meter = this.meters.find((m) => m.eventType === e.type && m.aggregation === "SUM");
      const value = floatOrNull(jsonPath(e.data, meter?.valueProperty ?? "$.value")) ?? 0;
      const model = typeof e.data?.model === "string" ? e.data.model : "";
      const k = `${e.subject}\u001f${e.type}\u001f${model}`;
      const row = rows.get(k) ?? { customer: e.subject, metric: e.type, model, value: 0, events: 0 };
      row.value += value;
      row.events++;
      rows.set(k, row);
    }
    return [...rows.values()];
  }
}
