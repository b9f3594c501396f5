/**
 * @module The OpenMeter sink, through the official `@openmeter/sdk` only.
 *
 * `events.ingest` always posts `application/cloudevents-batch+json` (the one spelling the
 * server's exact comparison accepts besides two others). A 204 means "handed to Kafka", and
 * duplicates also get 204 — so an OpenMeter outcome is `delivered` or not, never `duplicate`;
 * our ledger is the guard against double billing when the server's dedupe is off.
 *
 * Exactly-once at this boundary (self-hosted OpenMeter stores every copy, openmeter.md §2): the
 * handler forwards a batch's events one by one, so a 500 — or a timeout, a reset, a gateway's
 * 5xx — can follow a partial store (§1.4). After such an answer `send` asks OpenMeter which of
 * the request's ids it holds (`events.listV2`, filter `id $in`, `source $eq`, a time range) and
 * reports those as delivered, the rest as retry. An event not confirmed either way is remembered
 * as a suspect and looked up again before it is ever re-sent (and every event is, when the
 * caller says the batch may have been sent before: `SendOptions.maybeSent`).
 *
 * Residual risk: OpenMeter lists an event only after Kafka and its sink worker stored it (a flush
 * at most every 2 s by default, more under consumer lag). A stored event still in that pipeline
 * when the last lookup runs is re-sent and counted twice. The bounded waits (`confirmDelaysMs`)
 * and the second lookup before a re-send (after the worker's backoff) shrink that window; they
 * cannot close it. Only server-side dedupe (OpenMeter Cloud, or `sink.dedupe` self-hosted) does.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { OpenMeter, type Event, type Meter } from "@openmeter/sdk";
import type { BillableEvent, UsageTotal } from "../../model/index.js";
import { FailureStreak, scoped } from "../outage.js";
import { assertUsableApiKey, parseBaseUrl, redact } from "../secrets.js";
import { healthReport, type BillingSink, type HealthIssue, type HealthReport, type ReadTotalsQuery, type RetryScope, type SendOptions, type SinkOutcome } from "../sink.js";
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
  /**
   * After an answer that may hide a partial store (5xx, timeout, reset), look the request's
   * events up by id (GET /api/v2/events) and report the stored ones as delivered, the rest as
   * retry; before re-sending an event whose fate stayed unknown, look it up again. Default true.
   * With false no lookup is ever made, and a re-send after such an answer may count events twice.
   */
  confirmAfterFailure?: boolean;
  /**
   * Waits (ms) before each lookup of the confirmation: OpenMeter lists an event only once its sink
   * worker stored it (a flush at most every 2 s by default). The lookups stop as soon as every id
   * is found, and none starts later than `timeoutMs` after the failure. Default [250, 1000, 2000]:
   * at most 3.25 s of waiting, only after a failed request.
   */
  confirmDelaysMs?: number[];
}

const OPENMETER_BATCH = 100;
/** Extra requests one `send` may spend isolating events the server refused but local validation passed. */
const ISOLATION_BUDGET = 32;
/** Meter queries accept at most 100 subjects. */
const SUBJECTS_PER_QUERY = 100;
const CONFIRM_DELAYS_MS = [250, 1000, 2000];
/** Characters of ids per lookup filter: keeps the query string far below common 8 KB URL limits. */
const LOOKUP_ID_CHARS = 2000;
/** Suspects remembered per sink; the oldest are forgotten first. */
const MAX_SUSPECTS = 100_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a lookup by id found: the stored ids, or why it could not tell. */
type Lookup = { ok: true; stored: Set<string> } | { ok: false; reason: string; scope: RetryScope; permanent: boolean };

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
  const confirm = config.confirmAfterFailure ?? true;
  const confirmDelays = config.confirmDelaysMs?.length ? config.confirmDelaysMs : CONFIRM_DELAYS_MS;
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
  /** Ingest requests only: reads may work while ingestion (Kafka) fails, and the reverse. */
  const streak = new FailureStreak();
  /** Ids whose last request may have stored them and that no lookup found yet: never re-sent unlooked. */
  const suspects = new Set<string>();
  const suspect = (id: string) => {
    suspects.delete(id);
    suspects.add(id);
    if (suspects.size > MAX_SUSPECTS) suspects.delete(suspects.values().next().value!);
  };

  async function ingest(events: CloudEvent[]): Promise<OpenMeterAnswer> {
    const slot: { headers?: Headers } = {};
    try {
      return { resolved: await responseHeaders.run(slot, () => client.events.ingest(events.map(toSdkEvent), options())) };
    } catch (thrown) {
      return { thrown, headers: slot.headers ?? null };
    }
  }

  /** Groups of ids small enough for one filter in a query string. */
  function idGroups(items: Prepared[]): Prepared[][] {
    const groups: Prepared[][] = [];
    let cur: Prepared[] = [];
    let chars = 0;
    for (const p of items) {
      const len = JSON.stringify(p.ce.id).length + 1;
      if (cur.length && (chars + len > LOOKUP_ID_CHARS || cur.length >= OPENMETER_BATCH)) {
        groups.push(cur);
        cur = [];
        chars = 0;
      }
      cur.push(p);
      chars += len;
    }
    if (cur.length) groups.push(cur);
    return groups;
  }

  /**
   * Which of `items` OpenMeter holds, by exact id and our source (its dedupe key), within the
   * events' own seconds (stored time is truncated to the second), paging through every match.
   */
  async function lookupStored(items: Prepared[]): Promise<Lookup> {
    const stored = new Set<string>();
    for (const group of idGroups(items)) {
      const times = group.map((p) => Date.parse(p.ce.time));
      const from = floorSecond(new Date(Math.min(...times)));
      const to = new Date(floorSecond(new Date(Math.max(...times))).getTime() + 1000);
      // One operator per filter object; a range is an $and (openmeter.md §4.3).
      const filter = JSON.stringify({
        id: { $in: [...new Set(group.map((p) => p.ce.id))] },
        source: { $eq: source },
        time: { $and: [{ $gte: from.toISOString() }, { $lt: to.toISOString() }] },
      });
      let cursor: string | undefined;
      do {
        let page: Awaited<ReturnType<typeof client.events.listV2>>;
        try {
          page = await client.events.listV2({ filter, limit: 100, ...(cursor ? { cursor } : {}) }, options());
        } catch (thrown) {
          const c = classifyOpenMeterResponse({ thrown }, 1, secrets, Date.now());
          return { ok: false, reason: describeOpenMeterFailure(thrown, secrets), scope: c.transient?.scope ?? "event", permanent: !c.transient };
        }
        for (const item of page?.items ?? []) if (item.event.source === source && item.event.id) stored.add(item.event.id);
        // Presence is all we need: stop once every id was seen (further pages only hold copies).
        cursor = group.every((p) => stored.has(p.ce.id)) ? undefined : page?.nextCursor;
      } while (cursor);
    }
    return { ok: true, stored };
  }

  /**
   * After an ambiguous answer: bounded lookups until every id is found, a lookup cannot be made,
   * or the waits run out. No lookup starts later than `timeoutMs` after the first wait began, so
   * the whole confirmation stays under 2 × timeoutMs (a send's claim lease is sized on it).
   */
  async function confirmStored(items: Prepared[]): Promise<{ stored: Set<string>; lookups: number; failure?: Extract<Lookup, { ok: false }> }> {
    const stored = new Set<string>();
    let lookups = 0;
    let failure: Extract<Lookup, { ok: false }> | undefined;
    const deadline = Date.now() + timeoutMs;
    for (const [k, delay] of confirmDelays.entries()) {
      if (k > 0 && Date.now() + delay > deadline) break;
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      const r = await lookupStored(items.filter((p) => !stored.has(p.ce.id)));
      if (!r.ok) {
        failure = r;
        if (r.permanent || r.scope === "destination") break;
        continue;
      }
      lookups++;
      failure = undefined;
      for (const id of r.stored) stored.add(id);
      if (items.every((p) => stored.has(p.ce.id))) break;
    }
    return { stored, lookups, ...(failure && lookups === 0 ? { failure } : {}) };
  }

  async function attempt(items: Prepared[]): Promise<(SinkOutcome | null)[]> {
    const c = classifyOpenMeterResponse(await ingest(items.map((p) => p.ce)), items.length, secrets, Date.now());
    if (!c.transient) {
      streak.answered();
      c.outcomes.forEach((o, k) => o && suspects.delete(items[k]!.ce.id));
      return c.outcomes;
    }
    streak.failed();
    let scope: RetryScope = streak.failing ? "destination" : c.transient.scope;
    const reason = c.outcomes[0] && "reason" in c.outcomes[0] ? c.outcomes[0].reason : "OpenMeter request failed";
    if (!c.transient.maybeStored) return scoped(c.outcomes, scope);
    if (!confirm) return items.map(() => ({ status: "retry", reason: `${reason}; not confirmed (confirmAfterFailure is off): a re-send may count stored events twice`, scope }));

    const { stored, lookups, failure } = await confirmStored(items);
    if (failure?.scope === "destination") scope = "destination";
    const found = items.filter((p) => stored.has(p.ce.id)).length;
    const why = failure
      ? `${reason}; could not ask OpenMeter which events it stored (${failure.reason}); each is looked up again before any re-send`
      : `${reason}; ${found} of ${items.length} confirmed stored by id, this one not found after ${lookups} lookup${lookups === 1 ? "" : "s"}`;
    return items.map((p) => {
      if (stored.has(p.ce.id)) {
        suspects.delete(p.ce.id);
        return { status: "delivered" };
      }
      // Not listed may still mean "stored, not yet listable": look again before re-sending.
      if (!failure?.permanent) suspect(p.ce.id);
      return { status: "retry", reason: redact(why, secrets), scope };
    });
  }

  /**
   * Before sending: the events that may already be stored (suspects, or all when the caller says
   * so) are looked up. Found ones are delivered without a re-send; when OpenMeter cannot be asked,
   * they are held back (retry) rather than risk a second copy — unless the lookup is refused for
   * good (e.g. a key without read access), where they are sent as before.
   */
  async function settleMaybeStored(items: Prepared[], all: boolean, outcomes: (SinkOutcome | undefined)[]): Promise<Prepared[]> {
    const check = confirm ? items.filter((p) => all || suspects.has(p.ce.id)) : [];
    if (!check.length) return items;
    const r = await lookupStored(check);
    if (!r.ok) {
      if (r.permanent) return items;
      const scope: RetryScope = r.scope === "destination" || streak.failing ? "destination" : "event";
      if (scope === "destination") {
        for (const p of items) outcomes[p.index] = { status: "retry", reason: redact(`not sent: OpenMeter is unavailable (${r.reason})`, secrets), scope };
        return [];
      }
      const held = new Set(check.map((p) => p.index));
      for (const p of check) outcomes[p.index] = { status: "retry", reason: redact(`held back: it may already be stored and OpenMeter could not be asked (${r.reason})`, secrets), scope };
      return items.filter((p) => !held.has(p.index));
    }
    const settled = new Set<number>();
    for (const p of check) {
      suspects.delete(p.ce.id);
      if (r.stored.has(p.ce.id)) {
        outcomes[p.index] = { status: "delivered" };
        settled.add(p.index);
      }
    }
    return items.filter((p) => !settled.has(p.index));
  }

  async function send(batch: BillableEvent[], sendOptions: SendOptions = {}): Promise<SinkOutcome[]> {
    const outcomes: (SinkOutcome | undefined)[] = new Array(batch.length);
    let valid: Prepared[] = [];
    batch.forEach((e, index) => {
      const ce = toCloudEvent(e, source);
      const problems = cloudEventProblems(ce, e.valueProperty ?? "value");
      if (problems.length) outcomes[index] = { status: "rejected", reason: redact(`invalid CloudEvent: ${problems.join("; ")}`, secrets) };
      else valid.push({ index, ce });
    });
    valid = await settleMaybeStored(valid, sendOptions.maybeSent === true, outcomes);
    // Local validation passed, yet the server may still refuse a batch for one event: halve until it stands alone.
    const budget = { left: ISOLATION_BUDGET };
    let down: SinkOutcome | undefined;
    for (let i = 0; i < valid.length; i += OPENMETER_BATCH) {
      const chunk = valid.slice(i, i + OPENMETER_BATCH);
      if (down) {
        // The destination is failing as a whole: the rest is not sent, so no attempt is burned on it.
        for (const p of chunk) outcomes[p.index] = down;
        continue;
      }
      const results = await sendIsolating(chunk, attempt, budget, "OpenMeter refused the batch (400) and this event could not be cleared of it");
      chunk.forEach((p, k) => (outcomes[p.index] = results[k]));
      const failed = results.find((o) => o.status === "retry" && o.scope === "destination");
      if (failed && failed.status === "retry") down = { status: "retry", reason: `not sent: OpenMeter is unavailable (${failed.reason})`, scope: "destination", ...(failed.afterMs !== undefined ? { afterMs: failed.afterMs } : {}) };
    }
    return outcomes.map((o) => o ?? { status: "retry", reason: "no answer recorded for this event", scope: "event" });
  }

  async function probe(): Promise<boolean> {
    try {
      await client.meters.list(options());
      return true;
    } catch {
      return false;
    }
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
      const why = describeOpenMeterFailure(thrown, secrets);
      // A key that may ingest but not read meters: the check is lost, sending is not.
      const forbidden = (thrown as { status?: unknown })?.status === 403;
      return healthReport(
        metrics.map((metric) => ({
          kind: "unchecked",
          severity: forbidden ? "warning" : "blocking",
          metric,
          message: redact(`could not list OpenMeter meters to check "${metric}": ${why}`, secrets),
        })),
      );
    }
    const issues: HealthIssue[] = [];
    const add = (metric: string, kind: HealthIssue["kind"], message: string) => issues.push({ kind, severity: "warning", metric, message: redact(message, secrets) });
    for (const metric of metrics) {
      const m = meterFor(meters, metric);
      if (!m) {
        // Not blocking: events are stored whatever their type, and a meter created later counts them
        // retroactively (openmeter.md §3) — unlike Lago, nothing is lost by sending.
        add(metric, "unknown_metric", `OpenMeter has no meter with eventType "${metric}"; its events are stored but counted only once such a meter exists`);
        continue;
      }
      if (m.aggregation !== "SUM") add(metric, "metric_mismatch", `OpenMeter meter "${m.slug}" for "${metric}" aggregates with ${m.aggregation}; tracebill sends quantities, which need SUM`);
      if (!m.groupBy || !("model" in m.groupBy)) add(metric, "metric_mismatch", `OpenMeter meter "${m.slug}" for "${metric}" has no groupBy "model"; reconciliation reads totals per model`);
    }
    return healthReport(issues);
  }

  async function countByModel(meter: Meter, customer: string, from: Date, to: Date, modelKey: string): Promise<Map<string, number>> {
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
        const model = modelOf((item.event.data as Record<string, unknown> | null | undefined)?.[modelKey]);
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

  async function heldIds(events: BillableEvent[]): Promise<Set<string>> {
    const r = await lookupStored(events.map((e, index) => ({ index, ce: toCloudEvent(e, source) })));
    if (!r.ok) throw new Error(`looking OpenMeter events up by id failed: ${r.reason}`);
    return r.stored;
  }

  async function readTotals(q: ReadTotalsQuery): Promise<UsageTotal[]> {
    const rows = new Map<string, UsageTotal>();
    const from = floorSecond(q.from);
    const to = floorSecond(q.to);
    const key = (c: string, m: string, model: string) => `${c}\u001f${m}\u001f${model}`;
    const meters = await read("listing OpenMeter meters", listMeters);
    for (const { metric, valueProperty, destinations } of q.metrics) {
      // Read back under the names the events were sent with; rows keep our metric name.
      const names = destinations?.openmeter;
      const eventType = names?.type ?? metric;
      const modelKey = names?.properties?.["model"] ?? "model";
      const meter = meterFor(meters, eventType, names?.properties?.[valueProperty] ?? valueProperty);
      if (!meter) throw new Error(`OpenMeter has no meter with eventType "${eventType}"; nothing to read totals from`);
      const byModel = meter.groupBy !== undefined && modelKey in meter.groupBy;
      for (let i = 0; i < q.customers.length; i += SUBJECTS_PER_QUERY) {
        const subject = q.customers.slice(i, i + SUBJECTS_PER_QUERY);
        const result = await read(`querying OpenMeter meter "${meter.slug}"`, () =>
          client.meters.query(meter.slug, { from, to, subject, ...(byModel ? { groupBy: [modelKey] } : {}) }, options()),
        );
        for (const row of result?.data ?? []) {
          const customer = row.subject ?? "";
          const model = modelOf(row.groupBy?.[modelKey]);
          const k = key(customer, metric, model);
          const r = rows.get(k) ?? { customer, metric, model, value: 0, events: countEvents ? 0 : -1 };
          r.value += row.value;
          rows.set(k, r);
        }
      }
      if (!countEvents) continue;
      for (const customer of q.customers) {
        const counts = await read(`listing OpenMeter events of "${customer}"`, () => countByModel(meter, customer, from, to, modelKey));
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

  return { kind: "openmeter", limits: { maxBatchSize: OPENMETER_BATCH }, healthcheck, send, probe, readTotals, heldIds };
}
