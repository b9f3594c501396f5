/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are JSON checked by value */
import { Client } from "lago-javascript-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox, type SandboxSeed } from "../../src/sandbox/index.js";

const seed: SandboxSeed = {
  lago: {
    customers: [
      { external_id: "acme", subscriptions: [{ external_id: "sub_acme", plan_code: "pro", status: "active" }, { external_id: "sub_acme_old", plan_code: "pro", status: "terminated" }] },
      { external_id: "globex", subscriptions: [{ external_id: "sub_globex", plan_code: "pro" }] },
      { external_id: "nosub" },
    ],
    billable_metrics: [{ code: "llm_tokens", aggregation_type: "sum_agg", field_name: "tokens" }],
  },
};

/** Mid-month, so the open billing period is July 2024. */
const NOW = new Date("2024-07-15T12:00:00Z");
const T = (iso: string) => Date.parse(iso) / 1000;

const ev = (transaction_id: string, extra: Record<string, unknown> = {}) => ({
  transaction_id,
  external_subscription_id: "sub_acme",
  code: "llm_tokens",
  timestamp: T("2024-07-10T00:00:00Z"),
  properties: { tokens: 10, model: "gpt-4o" },
  ...extra,
});

describe("sandbox: Lago API", () => {
  let sb: Sandbox;
  let api: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any; headers: Headers }>;

  beforeEach(async () => {
    sb = await startSandbox({ seed, now: () => NOW });
    api = async (method, path, body, headers = {}) => {
      const res = await fetch(`${sb.lagoApiUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${sb.lagoApiKey}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    };
  });
  afterEach(() => sb.stop());

  it("answers 401 with Lago's body for a missing or wrong key", async () => {
    for (const authorization of ["", "Bearer nope"]) {
      const res = await api("POST", "/events/batch", { events: [ev("a")] }, { authorization });
      expect(res).toMatchObject({ status: 401, body: { status: 401, error: "Unauthorized" } });
    }
    expect(sb.state.lagoEvents()).toEqual([]);
  });

  it("accepts a valid batch with 200 and the serialized events, in order", async () => {
    const res = await api("POST", "/events/batch", { events: [ev("a"), ev("b", { timestamp: "1720569600.123" })] });
    expect(res.status).toBe(200);
    expect(res.body.events.map((e: any) => e.transaction_id)).toEqual(["a", "b"]);
    expect(res.body.events[1]).toMatchObject({
      lago_customer_id: null,
      lago_subscription_id: null,
      code: "llm_tokens",
      external_subscription_id: "sub_acme",
      timestamp: "2024-07-10T00:00:00.123Z",
      properties: { tokens: 10, model: "gpt-4o" },
      precise_total_amount_cents: null,
    });
    expect(sb.state.lagoEvents()).toHaveLength(2);
  });

  it("refuses a whole batch with index-keyed error_details when any event is malformed", async () => {
    const res = await api("POST", "/events/batch", {
      events: [ev("a"), ev("b", { code: undefined }), ev("c"), ev("d", { timestamp: "2024-07-10T00:00:00Z", transaction_id: "" }), ev("e", { external_subscription_id: null })],
    });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      status: 422,
      error: "Unprocessable Entity",
      code: "validation_errors",
      error_details: {
        "1": { code: ["value_is_mandatory"] },
        "3": { transaction_id: ["value_is_mandatory"], timestamp: ["invalid_format"] },
        "4": { external_subscription_id: ["value_is_mandatory"] },
      },
    });
    expect(sb.state.lagoEvents()).toEqual([]);
  });

  it("refuses a batch holding an already stored transaction_id and stores nothing from it", async () => {
    expect((await api("POST", "/events/batch", { events: [ev("a"), ev("b")] })).status).toBe(200);
    const res = await api("POST", "/events/batch", { events: [ev("c"), ev("a", { properties: { tokens: 99 } })] });
    expect(res.status).toBe(422);
    expect(res.body.error_details).toEqual({ "1": { transaction_id: ["value_already_exist"] } });
    expect(sb.state.lagoEvents().map((e) => e.transaction_id)).toEqual(["a", "b"]);
    // First write wins: the stored properties are the original ones.
    expect(sb.state.lagoEvents()[0]!.properties.tokens).toBe(10);
    expect(sb.state.counts().lago.duplicatesRefused).toBe(1);
  });

  it("flags a transaction_id repeated within the payload at its second index", async () => {
    const res = await api("POST", "/events/batch", { events: [ev("a"), ev("b"), ev("a")] });
    expect(res.status).toBe(422);
    expect(res.body.error_details).toEqual({ "2": { transaction_id: ["value_already_exist"] } });
    expect(sb.state.lagoEvents()).toEqual([]);
  });

  it("scopes uniqueness to the subscription, forever, whatever the code", async () => {
    expect((await api("POST", "/events/batch", { events: [ev("a"), ev("a", { external_subscription_id: "sub_globex" })] })).status).toBe(200);
    const again = await api("POST", "/events/batch", { events: [ev("a", { code: "other_metric" })] });
    expect(again.body.error_details).toEqual({ "0": { transaction_id: ["value_already_exist"] } });
  });

  it("answers too_many_events above the batch limit and no_events for an empty list", async () => {
    const many = Array.from({ length: 101 }, (_, i) => ev(`t${i}`));
    const res = await api("POST", "/events/batch", { events: many });
    expect(res).toMatchObject({ status: 422, body: { code: "validation_errors", error_details: { events: ["too_many_events"] } } });
    expect((await api("POST", "/events/batch", { events: many.slice(0, 100) })).status).toBe(200);
    expect((await api("POST", "/events/batch", { events: [] })).body.error_details).toEqual({ events: ["no_events"] });
  });

  it("honours a lower batch limit (LAGO_EVENTS_BATCH_MAX_LENGTH)", async () => {
    const small = await startSandbox({ seed, lagoBatchMax: 2 });
    try {
      const res = await fetch(`${small.lagoApiUrl}/api/v1/events/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${small.lagoApiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ events: [ev("a"), ev("b"), ev("c")] }),
      });
      expect(res.status).toBe(422);
      expect(((await res.json()) as any).error_details).toEqual({ events: ["too_many_events"] });
    } finally {
      await small.stop();
    }
  });

  it("stores events with an unknown code or subscription (200) but never bills them", async () => {
    const res = await api("POST", "/events/batch", { events: [ev("a"), ev("b", { code: "nope" }), ev("c", { external_subscription_id: "sub_ghost" })] });
    expect(res.status).toBe(200);
    expect(sb.state.lagoEvents()).toHaveLength(3);
    const usage = await api("GET", "/customers/acme/current_usage?external_subscription_id=sub_acme");
    expect(usage.body.customer_usage.charges_usage).toHaveLength(1);
    expect(usage.body.customer_usage.charges_usage[0]).toMatchObject({ units: "10.0", events_count: 1, billable_metric: { code: "llm_tokens", aggregation_type: "sum_agg" } });
  });

  it("single POST /events answers {event} and reports a duplicate without an index", async () => {
    const first = await api("POST", "/events", { event: ev("a") });
    expect(first.status).toBe(200);
    expect(first.body.event.transaction_id).toBe("a");
    const dup = await api("POST", "/events", { event: ev("a") });
    expect(dup).toMatchObject({ status: 422, body: { code: "validation_errors", error_details: { transaction_id: ["value_already_exist"] } } });
    const missing = await api("POST", "/events", { nope: 1 });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/^BadRequest: param is missing/);
  });

  it("lists events with filters, inclusive bounds, newest first and pagination meta", async () => {
    const events = ["01", "02", "03", "04", "05"].map((d, i) => ev(`e${i}`, { timestamp: T(`2024-07-${d}T00:00:00Z`) }));
    await api("POST", "/events/batch", { events: [...events, ev("other", { code: "x" })] });
    const q = "external_subscription_id=sub_acme&code=llm_tokens&timestamp_from=2024-07-02T00:00:00Z&timestamp_to=2024-07-04T00:00:00Z";
    const page1 = await api("GET", `/events?${q}&per_page=2`);
    expect(page1.body.events.map((e: any) => e.transaction_id)).toEqual(["e3", "e2"]);
    expect(page1.body.meta).toEqual({ current_page: 1, next_page: 2, prev_page: null, total_pages: 2, total_count: 3 });
    expect(page1.body.events[0]).toMatchObject({ lago_subscription_id: expect.any(String), lago_customer_id: expect.any(String) });
    const page2 = await api("GET", `/events?${q}&per_page=2&page=2`);
    expect(page2.body.events.map((e: any) => e.transaction_id)).toEqual(["e1"]);
    expect(page2.body.meta).toEqual({ current_page: 2, next_page: null, prev_page: 1, total_pages: 2, total_count: 3 });
    const bad = await api("GET", "/events?timestamp_from=yesterday");
    expect(bad).toMatchObject({ status: 422, body: { error_details: { timestamp_from: ["invalid_date"] } } });
  });

  it("finds one event by URL-encoded transaction_id and answers Lago's 404 otherwise", async () => {
    await api("POST", "/events/batch", { events: [ev("a/b c")] });
    const found = await api("GET", `/events/${encodeURIComponent("a/b c")}`);
    expect(found.body.event.transaction_id).toBe("a/b c");
    expect(await api("GET", "/events/nope")).toMatchObject({ status: 404, body: { status: 404, error: "Not Found", code: "event_not_found" } });
  });

  it("lists subscriptions (active by default, status[] to widen) and billable metrics", async () => {
    const active = await api("GET", "/subscriptions?external_customer_id=acme");
    expect(active.body.subscriptions.map((s: any) => s.external_id)).toEqual(["sub_acme"]);
    expect(active.body.subscriptions[0]).toMatchObject({ external_customer_id: "acme", plan_code: "pro", status: "active", current_billing_period_started_at: "2024-07-01T00:00:00.000Z" });
    expect(active.body.meta.total_count).toBe(1);
    const both = await api("GET", "/subscriptions?external_customer_id=acme&status%5B%5D=active&status%5B%5D=terminated");
    expect(both.body.subscriptions.map((s: any) => s.external_id).sort()).toEqual(["sub_acme", "sub_acme_old"]);
    expect((await api("GET", "/subscriptions?external_customer_id=nosub")).body.subscriptions).toEqual([]);
    expect((await api("GET", "/billable_metrics")).body.billable_metrics.map((m: any) => m.code)).toEqual(["llm_tokens"]);
    expect((await api("GET", "/billable_metrics/llm_tokens")).body.billable_metric).toMatchObject({ code: "llm_tokens", field_name: "tokens", aggregation_type: "sum_agg", recurring: false });
    expect(await api("GET", "/billable_metrics/nope")).toMatchObject({ status: 404, body: { status: 404, error: "Not Found", code: "billable_metric_not_found" } });
  });

  it("computes current usage over the open period from stored events", async () => {
    await api("POST", "/events/batch", {
      events: [
        ev("a", { properties: { tokens: 5 } }),
        ev("b", { properties: { tokens: "7.5" } }),
        ev("c", { properties: { tokens: "n/a" } }), // counted as an event, not as units
        ev("june", { timestamp: T("2024-06-30T23:59:59Z"), properties: { tokens: 1000 } }),
        ev("g", { external_subscription_id: "sub_globex", properties: { tokens: 1 } }),
      ],
    });
    const res = await api("GET", "/customers/acme/current_usage?external_subscription_id=sub_acme");
    expect(res.status).toBe(200);
    expect(res.body.customer_usage).toMatchObject({ from_datetime: "2024-07-01T00:00:00Z", to_datetime: "2024-07-31T23:59:59Z", lago_invoice_id: null });
    expect(res.body.customer_usage.charges_usage[0]).toMatchObject({ units: "12.5", events_count: 3, billable_metric: { code: "llm_tokens" } });
    expect(await api("GET", "/customers/ghost/current_usage?external_subscription_id=x")).toMatchObject({ status: 404, body: { code: "customer_not_found" } });
    expect(await api("GET", "/customers/acme/current_usage?external_subscription_id=sub_acme_old")).toMatchObject({
      status: 405,
      body: { status: 405, error: "Method Not Allowed", code: "no_active_subscription" },
    });
  });

  it("is usable through the official client", async () => {
    const client = Client(sb.lagoApiKey, { baseUrl: `${sb.lagoApiUrl}/api/v1` });
    const created = await client.events.createBatchEvents({ events: [ev("sdk1"), ev("sdk2")] });
    expect(created.data.events).toHaveLength(2);
    const listed = await client.events.findAllEvents({ external_subscription_id: "sub_acme", per_page: 1 });
    expect(listed.data.meta.total_count).toBe(2);
    const usage = await client.customers.findCustomerCurrentUsage("acme", { external_subscription_id: "sub_acme" });
    expect(usage.data.customer_usage.charges_usage[0]!.events_count).toBe(2);
    const subs = await client.subscriptions.findAllSubscriptions({ external_customer_id: "globex" });
    expect(subs.data.subscriptions.map((s) => s.external_id)).toEqual(["sub_globex"]);
    const thrown = await client.events.createBatchEvents({ events: [ev("sdk1")] }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(Response);
    expect((thrown as any).error.error_details).toEqual({ "0": { transaction_id: ["value_already_exist"] } });
  });
});
