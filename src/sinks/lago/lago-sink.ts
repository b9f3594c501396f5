/**
 * @module The Lago sink, through the official `lago-javascript-client` only.
 *
 * Lago accepts or refuses a batch as a whole and says why per index (lago.md §2.2), so `send`
 * settles what Lago judged (duplicates, rejections) and re-sends the rest in a bounded loop:
 * one bad event never holds back 99 good ones. Lago's 200 says nothing about billing (unknown
 * codes and subscriptions are stored and ignored), which is what `healthcheck` is for.
 *
 * Exactly-once at this boundary: a batch Lago committed but whose answer was lost (timeout, 500,
 * reset) comes back on re-send as 422 `value_already_exist` for each event, reported `duplicate`
 * (lago.md §2.2). This holds on the Postgres event store; on the ClickHouse store a re-send is
 * accepted again and merged later on (transaction_id, timestamp), which is why timestamps are
 * never the send time (lago.md §3).
 */
import { Client, type EventInputObject } from "lago-javascript-client";
import type { BillableEvent, UsageTotal } from "../../model/index.js";
import { FailureStreak, scoped } from "../outage.js";
import { assertUsableApiKey, parseBaseUrl, redact } from "../secrets.js";
import { healthReport, type BillingSink, type HealthIssue, type HealthReport, type OpenPeriod, type ReadTotalsQuery, type SinkOutcome } from "../sink.js";
import { classifyLagoResponse, describeLagoFailure, type LagoAnswer } from "./classify.js";
import { toLagoEvent } from "./to-lago-event.js";

export interface LagoSinkConfig {
  /**
   * The API root as Lago documents it (https://api.getlago.com, https://api.eu.getlago.com,
   * http://host:3000), with or without a trailing /api/v1, possibly below a path prefix.
   */
  apiUrl: string;
  apiKey: string;
  /** Per request. Default 10 s, as Lago's own agent SDK uses for /events/batch. */
  timeoutMs?: number;
  /** Events per /events/batch request; Lago's limit is 100. */
  maxBatchSize?: number;
  /**
   * How long a billable metric found by `healthcheck` is taken as still there (default 10 min):
   * back-to-back syncs (a pull every minute) do not each re-ask. A missing one is asked every time.
   */
  metricFoundForMs?: number;
  /** The clock for that (tests). */
  now?: () => number;
}

const LAGO_MAX_BATCH = 100;
/** Rounds of "drop what Lago judged, re-send the rest" per chunk; real Lago needs at most 3 (shape errors, then duplicates, then success). */
const MAX_ROUNDS = 5;
const LOOKUP_CONCURRENCY = 8;

/** The client's base URL (API root + /api/v1) from LAGO_API_URL in any of its accepted spellings. */
export function lagoSdkBaseUrl(apiUrl: string): string {
  const url = parseBaseUrl("LAGO_API_URL", apiUrl);
  let path = url.pathname.replace(/\/+$/, "");
  if (!/\/api\/v1$/.test(path)) path += "/api/v1";
  return `${url.origin}${path}`;
}

type SubscriptionLookup = { ok: true; subscription: string } | { ok: false; outcome: SinkOutcome; several?: boolean };

interface Pending {
  index: number;
  event: EventInputObject;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const numeric = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : null;

export function createLagoSink(config: LagoSinkConfig): BillingSink {
  assertUsableApiKey("the Lago API key (LAGO_API_KEY)", config.apiKey);
  const client = Client(config.apiKey, { baseUrl: lagoSdkBaseUrl(config.apiUrl) });
  const secrets = [config.apiKey];
  const timeoutMs = config.timeoutMs ?? 10_000;
  const maxBatchSize = Math.min(config.maxBatchSize ?? LAGO_MAX_BATCH, LAGO_MAX_BATCH);
  const params = () => ({ signal: AbortSignal.timeout(timeoutMs) });
  /** Per sink: a customer's active subscription does not change under a running worker often enough to re-ask per batch. */
  const subscriptions = new Map<string, Promise<SubscriptionLookup>>();
  /** Billable metric code → when Lago last said it exists. */
  const metricsFound = new Map<string, number>();
  const metricFoundForMs = config.metricFoundForMs ?? 600_000;
  const now = config.now ?? Date.now;
  /** Ingest requests only (the streak says whether events can get in, not whether reads work). */
  const streak = new FailureStreak();

  async function lookupSubscription(customer: string): Promise<SubscriptionLookup> {
    try {
      const res = await client.subscriptions.findAllSubscriptions({ external_customer_id: customer, "status[]": ["active"], per_page: 100 }, params());
      const active = (res.data?.subscriptions ?? []).filter((s) => s.status === "active" && s.external_customer_id === customer);
      if (active.length === 1) return { ok: true, subscription: active[0]!.external_id };
      const reason =
        active.length === 0
          ? `customer "${customer}" has no active Lago subscription; create one, or name the subscription in the mapping`
          : `customer "${customer}" has ${active.length} active Lago subscriptions (${active.map((s) => s.external_id).join(", ")}); name the subscription in the mapping`;
      return { ok: false, outcome: { status: "rejected", reason: redact(reason, secrets) }, several: active.length > 1 };
    } catch (thrown) {
      const c = classifyLagoResponse({ thrown }, 1, secrets, Date.now());
      const o = c.transient ? scoped(c.outcomes, c.transient.scope)[0] : c.outcomes[0];
      const base: SinkOutcome = o ?? { status: "retry", reason: "Lago subscription lookup failed", scope: "event" };
      return { ok: false, outcome: "reason" in base ? { ...base, reason: `looking up the subscription of "${customer}": ${base.reason}` } : base };
    }
  }

  function subscriptionOf(customer: string): Promise<SubscriptionLookup> {
    let p = subscriptions.get(customer);
    if (!p) {
      p = lookupSubscription(customer);
      subscriptions.set(customer, p);
      // Only a found subscription is remembered; a missing one may be created while we run.
      void p.then((r) => {
        if (!r.ok) subscriptions.delete(customer);
      });
    }
    return p;
  }

  async function post(events: EventInputObject[]): Promise<LagoAnswer> {
    try {
      return { resolved: await client.events.createBatchEvents({ events }, params()) };
    } catch (thrown) {
      return { thrown };
    }
  }

  async function sendChunk(chunk: Pending[], outcomes: (SinkOutcome | undefined)[]): Promise<void> {
    let pending = chunk;
    for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
      const c = classifyLagoResponse(await post(pending.map((p) => p.event)), pending.length, secrets, Date.now());
      if (c.transient) {
        streak.failed();
        c.outcomes = scoped(c.outcomes, streak.failing ? "destination" : c.transient.scope);
      } else streak.answered();
      if (c.tooLarge && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        await sendChunk(pending.slice(0, half), outcomes);
        await sendChunk(pending.slice(half), outcomes);
        return;
      }
      const unjudged: Pending[] = [];
      c.outcomes.forEach((o, k) => {
        const p = pending[k]!;
        if (o) outcomes[p.index] = o;
        else unjudged.push(p);
      });
      if (unjudged.length === pending.length) break;
      pending = unjudged;
    }
    for (const p of pending) outcomes[p.index] = { status: "retry", reason: "Lago refused the batch without saying which event was at fault", scope: "event" };
  }

  /** Options are accepted for the contract; a re-send is safe on Lago (value_already_exist → duplicate). */
  async function send(batch: BillableEvent[]): Promise<SinkOutcome[]> {
    const outcomes: (SinkOutcome | undefined)[] = new Array(batch.length);
    const needLookup = [...new Set(batch.filter((e) => !e.subscription).map((e) => e.customer))];
    const found = new Map(await mapLimit(needLookup, LOOKUP_CONCURRENCY, async (c) => [c, await subscriptionOf(c)] as const));
    const ready: Pending[] = [];
    batch.forEach((e, index) => {
      if (!Number.isFinite(e.value)) {
        outcomes[index] = { status: "rejected", reason: `value is not a finite number (${String(e.value)})` };
        return;
      }
      let sub = e.subscription;
      if (!sub) {
        const r = found.get(e.customer)!;
        if (!r.ok) {
          outcomes[index] = r.outcome;
          return;
        }
        sub = r.subscription;
      }
      ready.push({ index, event: toLagoEvent(e, sub) });
    });
    const isDown = (o: SinkOutcome | undefined): o is Extract<SinkOutcome, { status: "retry" }> => o?.status === "retry" && o.scope === "destination";
    let down = outcomes.find(isDown);
    for (let i = 0; i < ready.length; i += maxBatchSize) {
      const chunk = ready.slice(i, i + maxBatchSize);
      if (down) {
        // The destination is failing as a whole: the rest is not sent, so no attempt is burned on it.
        const o: SinkOutcome = { status: "retry", reason: `not sent: Lago is unavailable (${down.reason})`, scope: "destination", ...(down.afterMs !== undefined ? { afterMs: down.afterMs } : {}) };
        for (const p of chunk) outcomes[p.index] = o;
        continue;
      }
      await sendChunk(chunk, outcomes);
      down = chunk.map((p) => outcomes[p.index]).find(isDown);
    }
    return outcomes.map((o) => o ?? { status: "retry", reason: "no answer recorded for this event", scope: "event" });
  }

  async function probe(): Promise<boolean> {
    try {
      await client.billableMetrics.findAllBillableMetrics({ page: 1, per_page: 1 }, params());
      return true;
    } catch {
      return false;
    }
  }

  async function healthcheck(metrics: string[], customers: string[]): Promise<HealthReport> {
    const issues: HealthIssue[] = [];
    for (const code of metrics) {
      const found = metricsFound.get(code);
      if (found !== undefined && now() - found < metricFoundForMs) continue;
      try {
        await client.billableMetrics.findBillableMetric(encodeURIComponent(code), params());
        metricsFound.set(code, now());
      } catch (thrown) {
        metricsFound.delete(code);
        const status = (thrown as { status?: unknown })?.status;
        if (status === 404) {
          // Blocking: Lago would answer 200 and never bill these events (lago.md §2.3).
          issues.push({ kind: "unknown_metric", severity: "blocking", metric: code, message: `Lago has no billable metric "${code}"; Lago accepts events with an unknown code and never bills them` });
        } else {
          // Not knowing is treated as not existing, except for a key that may send but not read metrics.
          issues.push({ kind: "unchecked", severity: status === 403 ? "warning" : "blocking", metric: code, message: `could not check Lago billable metric "${code}": ${describeLagoFailure(thrown, secrets)}` });
        }
      }
    }
    for (const customer of customers) {
      // Warnings: `send` rejects these customers' events one by one, with this reason.
      const r = await lookupSubscription(customer);
      if (r.ok) continue;
      const message = "reason" in r.outcome ? r.outcome.reason : `customer "${customer}": no usable subscription`;
      const kind = r.outcome.status === "retry" ? "unchecked" : r.several ? "ambiguous_subscription" : "no_subscription";
      issues.push({ kind, severity: "warning", customer, message });
    }
    return healthReport(issues.map((i) => ({ ...i, message: redact(i.message, secrets) })));
  }

  /** Runs one read-back call, turning a vendor failure into an error that names it and carries no secret. */
  async function read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (thrown) {
      // The vendor error is not attached as `cause`: its text is not vetted for secrets, the description is.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`${what} failed: ${describeLagoFailure(thrown, secrets)}`);
    }
  }

  /** Every subscription a customer's events may have gone to: the active one and any terminated since. */
  async function subscriptionsOfCustomer(customer: string): Promise<string[]> {
    const ids: string[] = [];
    for (let page = 1; ; page++) {
      const res = await read(`listing the Lago subscriptions of "${customer}"`, () =>
        client.subscriptions.findAllSubscriptions({ external_customer_id: customer, "status[]": ["active", "terminated"], page, per_page: 100 }, params()),
      );
      ids.push(...(res.data?.subscriptions ?? []).filter((s) => s.external_customer_id === customer).map((s) => s.external_id));
      if (!res.data?.meta?.next_page) return ids;
    }
  }

  async function readTotals(q: ReadTotalsQuery): Promise<UsageTotal[]> {
    const rows = new Map<string, UsageTotal>();
    const fromMs = q.from.getTime();
    const toMs = q.to.getTime();
    for (const customer of q.customers) {
      for (const sub of await subscriptionsOfCustomer(customer)) {
        for (const { metric, valueProperty, destinations } of q.metrics) {
          // Read back under the names the events were sent with; rows keep our metric name.
          const names = destinations?.lago;
          const code = names?.code ?? metric;
          const valueKey = names?.properties?.[valueProperty] ?? valueProperty;
          const modelKey = names?.properties?.["model"] ?? "model";
          for (let page = 1; ; page++) {
            const res = await read(`listing Lago events of subscription "${sub}"`, () =>
              client.events.findAllEvents(
                // Lago's bounds are both inclusive; `to` is made exclusive below.
                { external_subscription_id: sub, code, timestamp_from: q.from.toISOString(), timestamp_to: q.to.toISOString(), page, per_page: 100 },
                params(),
              ),
            );
            for (const e of res.data?.events ?? []) {
              const t = Date.parse(e.timestamp);
              if (!(t >= fromMs && t < toMs)) continue;
              const props = (e.properties ?? {}) as Record<string, unknown>;
              const model = typeof props[modelKey] === "string" ? (props[modelKey] as string) : "";
              const k = `${customer}\u001f${metric}\u001f${model}`;
              const row = rows.get(k) ?? { customer, metric, model, value: 0, events: 0 };
              row.value += numeric(props[valueKey]) ?? 0;
              row.events++;
              rows.set(k, row);
            }
            if (!res.data?.meta?.next_page) break;
          }
        }
      }
    }
    return [...rows.values()];
  }

  async function heldIds(events: BillableEvent[]): Promise<Set<string>> {
    const held = new Set<string>();
    await mapLimit(events, LOOKUP_CONCURRENCY, async (e) => {
      try {
        const res = await client.events.findEvent(encodeURIComponent(e.id), params());
        if (res.data?.event?.transaction_id === e.id) held.add(e.id);
      } catch (thrown) {
        if ((thrown as { status?: unknown } | null)?.status === 404) return;
        // eslint-disable-next-line preserve-caught-error
        throw new Error(`looking up Lago event "${e.id}" failed: ${describeLagoFailure(thrown, secrets)}`);
      }
    });
    return held;
  }

  async function openPeriods(customers: string[]): Promise<OpenPeriod[]> {
    const out: OpenPeriod[] = [];
    for (const customer of customers) {
      const r = await subscriptionOf(customer);
      if (!r.ok) continue;
      const res = await read(`reading the current usage of "${customer}"`, () =>
        client.customers.findCustomerCurrentUsage(encodeURIComponent(customer), { external_subscription_id: r.subscription }, params()),
      );
      const u = res.data?.customer_usage;
      if (!u?.from_datetime || !u.to_datetime) continue;
      const usage = new Map<string, { code: string; units: number; events: number; charges: number }>();
      for (const c of u.charges_usage ?? []) {
        const code = c.billable_metric?.code;
        if (!code) continue;
        const known = usage.get(code);
        // Two charges on one metric both count the same events: keep the first, say there are more.
        if (known) known.charges++;
        else usage.set(code, { code, units: numeric(c.units) ?? 0, events: typeof c.events_count === "number" ? c.events_count : 0, charges: 1 });
      }
      out.push({ customer, subscription: r.subscription, from: new Date(u.from_datetime).toISOString(), to: new Date(u.to_datetime).toISOString(), usage: [...usage.values()] });
    }
    return out;
  }

  return { kind: "lago", limits: { maxBatchSize }, healthcheck, send, probe, readTotals, openPeriods, heldIds };
}
