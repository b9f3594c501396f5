/**
 * @module The OpenMeter sink, through the official `@openmeter/sdk` only.
 *
 * `events.ingest` always posts `application/cloudevents-batch+json` (the one spelling the
 * server's exact comparison accepts besides two others). A 204 means "handed to Kafka", and
 * duplicates also get 204 — so an OpenMeter outcome is `delivered` or not, never `duplicate`;
 * our ledger is the guard against double billing when the server's dedupe is off.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { OpenMeter, type Event, type Meter } from "@openmeter/sdk";
import type { BillableEvent, EventOutcome, UsageTotal } from "../../model/index.js";
import { assertUsableApiKey, parseBaseUrl, redact } from "../secrets.js";
import type { BillingSink, HealthReport, ReadTotalsQuery } from "../sink.js";
import { classifyOpenMeterResponse, describeOpenMeterFailure, type OpenMeterAnswer } from "./classify.js";
import { sendIsolating } from "./isolate.js";
import { CLOUD_EVENT_SOURCE, cloudEventProblems, toCloudEvent, type CloudEvent } from "./to-cloud-event.js";

export interface OpenMeterSinkConfig {
  /** Base URL, e.g. https://openmeter.cloud or http://host:8888 (a trailing /api/v1 is tolerated). */
  url: string;
  apiKey: string;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** CloudEvents `source`; part of OpenMeter's dedupe key, so keep it fixed. Default "tracebill". */
  source?: string;
  /**
   * Count events in `readTotals` by paging GET /api/v2/events (one request per 100 events).
   * Meter queries only return sums; with false, `UsageTotal.events` is -1 (unknown). Default true.
   */
  countEvents?: boolean;
}

const OPENMETER_BATCH = 100;
/** Extra requests one `send` may spend isolating events the server refused but local validation passed. */
const ISOLATION_BUDGET = 32;
/** Meter queries accept at most 100 subjects. */
const SUBJECTS_PER_QUERY = 100;

/** The SDK's base URL: the SDK adds /api/v1 itself. */
export function openMeterBaseUrl(url: string): string {
  const u = parseBaseUrl("OPENMETER_URL", url);
  const path = u.pathname.replace(/\/+$/, "").replace(/\/api\/v1$/, "").replace(/\/api$/, "");
  return `${u.origin}${path}`;
}

interface Prepared {
  index: number;
  ce: CloudEvent;
}

/** The SDK's Event takes `time` as a Date; JSON turns it back into RFC 3339 on the wire. */
const toSdkEvent = (ce: CloudEvent): Event => ({ ...ce, time: new Date(ce.time) });

/** Whole seconds: OpenMeter compares times at second precision (meter_query.go). */
const floorSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

function modelOf(v: unknown): string {
  // The SDK turns every ISO-looking string in a response into a Date (decodeDates).
  if (v instanceof Date) return v.toISOString();
  return typeof v === "string" ? v : "";
}

export function createOpenMeterSink(config: OpenMeterSinkConfig): BillingSink {
  assertUsableApiKey("the OpenMeter API key (OPENMETER_API_KEY)", config.apiKey);
  const secrets = [config.apiKey];
  const timeoutMs = config.timeoutMs ?? 10_000;
  const source = config.source ?? CLOUD_EVENT_SOURCE;
  const countEvents = config.countEvents ?? true;
  /** HTTPError carries no headers; each ingest call gets its own slot for the response headers (Retry-After). */
  const responseHeaders = new AsyncLocalStorage<{ headers?: Headers }>();
  const client = new OpenMeter({
    baseUrl: openMeterBaseUrl(config.url),
    apiKey: config.apiKey,
    fetch: async (input: Request) => {
      const res = await globalThis.fetch(input);
      const slot = responseHeaders.getStore();
      if (slot) slot.headers = res.headers;
      return res;
    },
  });
  const options = () => ({ signal: AbortSignal.timeout(timeoutMs) });

  async function ingest(events: CloudEvent[]): Promise<OpenMeterAnswer> {
    const slot: { headers?: Headers } = {};
    try {
      return { resolved: await responseHeaders.run(slot, () => client.events.ingest(events.map(toSdkEvent), options())) };
    } catch (thrown) {
      return { thrown, headers: slot.headers ?? null };
    }
  }

  async function attempt(items: Prepared[]): Promise<(EventOutcome | null)[]> {
    return classifyOpenMeterResponse(await ingest(items.map((p) => p.ce)), items.length, secrets, Date.now()).outcomes;
  }

  async function send(batch: BillableEvent[]): Promise<EventOutcome[]> {
    const outcomes: (EventOutcome | undefined)[] = new Array(batch.length);
    const valid: Prepared[] = [];
    batch.forEach((e, index) => {
      const ce = toCloudEvent(e, source);
      const problems = cloudEventProblems(ce, e.valueProperty ?? "value");
      if (problems.length) outcomes[index] = { status: "rejected", reason: redact(`invalid CloudEvent: ${problems.join("; ")}`, secrets) };
      else valid.push({ index, ce });
    });
    // Local validation passed, yet the server may still refuse a batch for one event: halve until it stands alone.
    const budget = { left: ISOLATION_BUDGET };
    for (let i = 0; i < valid.length; i += OPENMETER_BATCH) {
      const chunk = valid.slice(i, i + OPENMETER_BATCH);
      const results = await sendIsolating(chunk, attempt, budget, "OpenMeter refused the batch (400) and this event could not be cleared of it");
      chunk.forEach((p, k) => (outcomes[p.index] = results[k]));
    }
    return outcomes.map((o) => o ?? { status: "retry", reason: "no answer recorded for this event" });
  }

  async function listMeters(): Promise<Meter[]> {
    return (await client.meters.list(options())) ?? [];
  }

  /** The meter reconciliation reads: eventType = metric, preferring a SUM over `$.<valueProperty>`, then slug = metric. */
  function meterFor(meters: Meter[], metric: string, valueProperty?: string): Meter | undefined {
    const candidates = meters.filter((m) => m.eventType === metric && !m.deletedAt);
    return (
      candidates.find((m) => m.aggregation === "SUM" && valueProperty !== undefined && m.valueProperty === `$.${valueProperty}`) ??
      candidates.find((m) => m.slug === metric) ??
      candidates.find((m) => m.aggregation === "SUM") ??
      candidates[0]
    );
  }

  async function healthcheck(metrics: string[], _customers: string[]): Promise<HealthReport> {
    // Subjects need not exist in OpenMeter: events for unknown subjects are stored and counted by subject queries.
    let meters: Meter[];
    try {
      meters = await listMeters();
    } catch (thrown) {
      return { ok: false, problems: [`could not list OpenMeter meters: ${describeOpenMeterFailure(thrown, secrets)}`] };
    }
    const problems: string[] = [];
    for (const metric of metrics) {
      const m = meterFor(meters, metric);
      if (!m) {
        problems.push(`OpenMeter has no meter with eventType "${metric}"; its events would be stored but never counted`);
        continue;
      }
      if (m.aggregation !== "SUM") problems.push(`OpenMeter meter "${m.slug}" for "${metric}" aggregates with ${m.aggregation}; tracebill sends quantities, which need SUM`);
      if (!m.groupBy || !("model" in m.groupBy)) problems.push(`OpenMeter meter "${m.slug}" for "${metric}" has no groupBy "model"; reconciliation reads totals per model`);
    }
    return { ok: problems.length === 0, problems: problems.map((p) => redact(p, secrets)) };
  }

  async function countByModel(meter: Meter, customer: string, from: Date, to: Date): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const filter = JSON.stringify({
      subject: { $eq: customer },
      type: { $eq: meter.eventType },
      // One operator per filter object, so a range is an $and (openmeter.md §4.3).
      time: { $and: [{ $gte: from.toISOString() }, { $lt: to.toISOString() }] },
    });
    let cursor: string | undefined;
    do {
      const page = await client.events.listV2({ filter, limit: 100, ...(cursor ? { cursor } : {}) }, options());
      for (const item of page?.items ?? []) {
        const model = modelOf((item.event.data as Record<string, unknown> | null | undefined)?.model);
        counts.set(model, (counts.get(model) ?? 0) + 1);
      }
      cursor = page?.nextCursor;
    } while (cursor);
    return counts;
  }

  /** Runs one read-back call, turning a vendor failure into an error that names it and carries no secret. */
  async function read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (thrown) {
      // The vendor error is not attached as `cause`: its text is not vetted for secrets, the description is.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`${what} failed: ${describeOpenMeterFailure(thrown, secrets)}`);
    }
  }

  async function readTotals(q: ReadTotalsQuery): Promise<UsageTotal[]> {
    const rows = new Map<string, UsageTotal>();
    const from = floorSecond(q.from);
    const to = floorSecond(q.to);
    const key = (c: string, m: string, model: string) => `${c}\u001f${m}\u001f${model}`;
    const meters = await read("listing OpenMeter meters", listMeters);
    for (const { metric, valueProperty } of q.metrics) {
      const meter = meterFor(meters, metric, valueProperty);
      if (!meter) throw new Error(`OpenMeter has no meter with eventType "${metric}"; nothing to read totals from`);
      const byModel = meter.groupBy !== undefined && "model" in meter.groupBy;
      for (let i = 0; i < q.customers.length; i += SUBJECTS_PER_QUERY) {
        const subject = q.customers.slice(i, i + SUBJECTS_PER_QUERY);
        const result = await read(`querying OpenMeter meter "${meter.slug}"`, () =>
          client.meters.query(meter.slug, { from, to, subject, ...(byModel ? { groupBy: ["model"] } : {}) }, options()),
        );
        for (const row of result?.data ?? []) {
          const customer = row.subject ?? "";
          const model = modelOf(row.groupBy?.model);
          const k = key(customer, metric, model);
          const r = rows.get(k) ?? { customer, metric, model, value: 0, events: countEvents ? 0 : -1 };
          r.value += row.value;
          rows.set(k, r);
        }
      }
      if (!countEvents) continue;
      for (const customer of q.customers) {
        const counts = await read(`listing OpenMeter events of "${customer}"`, () => countByModel(meter, customer, from, to));
        for (const [model, n] of counts) {
          const k = key(customer, metric, model);
          // Events whose value OpenMeter could not sum still count as events.
          const r = rows.get(k) ?? { customer, metric, model, value: 0, events: 0 };
          r.events += n;
          rows.set(k, r);
        }
      }
    }
    return [...rows.values()];
  }

  return { kind: "openmeter", limits: { maxBatchSize: OPENMETER_BATCH }, healthcheck, send, readTotals };
}
