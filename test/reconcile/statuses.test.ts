import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import type { BillableEvent } from "../../src/model/index.js";
import { reconcile, type ReportInput } from "../../src/reconcile/reconcile.js";
import { renderMarkdown } from "../../src/reconcile/report/markdown.js";
import { runReconcile } from "../../src/reconcile/run.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";

const base: Omit<ReportInput, "sent" | "held"> = {
  destination: "lago",
  requested: { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" },
  window: { from: "2026-11-01T00:00:00.000Z", to: "2026-12-01T00:00:00.000Z" },
  deadLetters: { count: 0, byReason: {} },
  generatedAt: "2026-11-27T00:00:00.000Z",
};
const row = (customer: string, value: number, events: number, model = "gpt-4o") => ({ customer, metric: "llm_tokens", model, value, events });

describe("reconcile statuses (pure)", () => {
  it("unbillable: a metric Lago has no billable metric for, even when the totals agree", () => {
    const r = reconcile({ ...base, sent: [row("acme", 1200, 3), row("globex", 50, 1)], held: [row("acme", 1200, 3), row("globex", 50, 1)], unbillable: [{ metric: "llm_tokens", reason: 'Lago has no billable metric "llm_tokens"' }] });
    expect(r.rows.map((x) => [x.customer, x.status, x.difference])).toEqual([["acme", "unbillable", 0], ["globex", "unbillable", 0]]);
    expect(r.rows[0]!.reason).toContain("no billable metric");
    expect(r.ok).toBe(false);
    expect(r.statusCounts).toEqual({ matched: 0, missing: 0, excess: 0, unbillable: 2, pending: 0, late: 0 });
  });

  it("unbillable: a customer without a subscription, only that customer", () => {
    const r = reconcile({ ...base, sent: [row("acme", 1200, 3), row("globex", 50, 1)], held: [row("acme", 1200, 3)], unbillable: [{ customer: "globex", reason: "customer globex has no active subscription" }] });
    expect(r.rows.map((x) => [x.customer, x.status, x.difference])).toEqual([["acme", "matched", 0], ["globex", "unbillable", -50]]);
    expect(r.customers.map((c) => c.status)).toEqual(["matched", "unbillable"]);
  });

  it("pending: short by no more than what was delivered within the lag; beyond that it is missing", () => {
    const r = reconcile({
      ...base,
      sent: [row("acme", 1000, 4), row("globex", 1000, 4)],
      held: [row("acme", 800, 3), row("globex", 700, 3)],
      recent: [row("acme", 200, 1), row("globex", 200, 1)],
      pendingMinutes: 15,
    });
    expect(r.rows.map((x) => [x.customer, x.status, x.difference])).toEqual([["acme", "pending", -200], ["globex", "missing", -300]]);
    expect(r.rows[0]!.reason).toBe("200 short, within the 200 delivered in the last 15 minutes (ingestion lag): re-run later");
    expect(r.ok).toBe(false);
    // Pending alone is not a difference: ok, exit 0, with a note in the report.
    const p = reconcile({ ...base, sent: [row("acme", 1000, 4)], held: [row("acme", 800, 3)], recent: [row("acme", 200, 1)], pendingMinutes: 15 });
    expect(p.ok).toBe(true);
    expect(p.statusCounts.pending).toBe(1);
    expect(renderMarkdown(p)).toContain("1 row(s) pending");
  });

  it("late: matched, but part of the usage is before the open billing period", () => {
    const r = reconcile({
      ...base,
      sent: [row("acme", 1000, 4), row("globex", 10, 1)],
      held: [row("acme", 1000, 4), row("globex", 10, 1)],
      lateSent: [row("acme", 250, 1)],
      periods: [{ customer: "acme", from: "2026-11-15T00:00:00.000Z" }],
    });
    expect(r.rows.map((x) => [x.customer, x.status, x.late])).toEqual([["acme", "late", 250], ["globex", "matched", undefined]]);
    expect(r.rows[0]!.reason).toContain("250 of it is usage before the open billing period (from 2026-11-15T00:00:00.000Z)");
    expect(r.ok).toBe(false);
    const md = renderMarkdown(r);
    expect(md).toContain("1 of 2 rows differ");
    expect(md).toContain("| acme | llm_tokens | gpt-4o | 1,000 | 1,000 | 0 | 🕘 late |");
  });

  it("missing and excess keep precedence over late; unbillable over everything", () => {
    const r = reconcile({
      ...base,
      sent: [row("acme", 1000, 4), row("globex", 100, 1)],
      held: [row("acme", 900, 3), row("globex", 100, 1)],
      lateSent: [row("acme", 250, 1), row("globex", 100, 1)],
      unbillable: [{ customer: "globex", reason: "no subscription" }],
    });
    expect(r.rows.map((x) => [x.customer, x.status, x.late])).toEqual([["acme", "missing", 250], ["globex", "unbillable", 100]]);
    expect(r.summary).toEqual({ rows: 2, matched: 0, missing: 1, excess: 0, sent: 1100, held: 1000 });
  });
});

const event = (i: number, over: Partial<BillableEvent> = {}): BillableEvent => ({
  id: `tb_stat_${i}`,
  customer: "acme",
  metric: "llm_tokens",
  value: 100 * (i + 1),
  timestamp: new Date(Date.UTC(2026, 10, 2, 10) + i * 60_000).toISOString(),
  properties: { model: "gpt-4o", type: "input" },
  source: { platform: "langsmith", record_id: `run_${i}`, trace_id: `trace_${i}` },
  mapping: "llm-tokens",
  ...over,
});
const METRICS = [{ metric: "llm_tokens", valueProperty: "value" }];
const FROM = new Date("2026-10-01T00:00:00Z");
const TO = new Date("2026-12-01T00:00:00Z");

describe("reconcile statuses against the sandbox", () => {
  let redis: Redis;
  const sandboxes: Sandbox[] = [];
  beforeAll(() => {
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await redis.quit();
    for (const s of sandboxes) await s.stop();
  });
  const start = async (opts: Parameters<typeof startSandbox>[0]) => {
    const s = await startSandbox({ port: 0, now: () => new Date("2026-11-15T12:00:00Z"), ...opts });
    sandboxes.push(s);
    return s;
  };

  it("unbillable: Lago stores events of a code it has no billable metric for, and the report says they never bill", async () => {
    const seed = demoSeed(["acme"], METRICS);
    seed.lago!.billable_metrics = [];
    const sandbox = await start({ seed });
    const sink = createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey });
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("stat"), ttlSeconds: 86_400 });
    const events = [event(0), event(1), event(2)];
    expect((await sink.send(events)).map((o) => o.status)).toEqual(["delivered", "delivered", "delivered"]);
    await ledger.recordDelivered("lago", events);
    expect(sandbox.state.lagoEvents()).toHaveLength(3);
    const r = await runReconcile({ destination: "lago", from: FROM, to: TO, ledger, sink, metrics: METRICS });
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]).toMatchObject({ customer: "acme", metric: "llm_tokens", model: "gpt-4o", sent: 600, held: 600, difference: 0, status: "unbillable" });
    expect(r.rows[0]!.reason).toContain('no billable metric "llm_tokens"');
    expect(r.ok).toBe(false);
  });

  it("late: usage before the customer's open Lago billing period (current_usage from_datetime)", async () => {
    const sandbox = await start({ seed: demoSeed(["acme"], METRICS) });
    const sink = createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey });
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("stat"), ttlSeconds: 86_400 });
    // Period opened 2026-11-01 (sandbox clock 2026-11-15): the 2026-10-31 event is late.
    const events = [event(0, { timestamp: "2026-10-31T23:00:00.000Z" }), event(1), event(2)];
    await sink.send(events);
    await ledger.recordDelivered("lago", events);
    const r = await runReconcile({ destination: "lago", from: FROM, to: TO, ledger, sink, metrics: METRICS });
    expect(r.rows[0]).toMatchObject({ sent: 600, held: 600, late: 100, status: "late" });
    expect(r.periods).toEqual([{ customer: "acme", from: "2026-11-01T00:00:00.000Z" }]);
    // Inside the period only: matched.
    const r2 = await runReconcile({ destination: "lago", from: new Date("2026-11-01T00:00:00Z"), to: TO, ledger, sink, metrics: METRICS });
    expect(r2.rows[0]).toMatchObject({ sent: 500, held: 500, status: "matched" });
    expect(r2.ok).toBe(true);
  });

  it("excess: OpenMeter without dedupe stores the same batch twice", async () => {
    const sandbox = await start({ seed: demoSeed(["acme"], METRICS), openmeterDedupe: false });
    const sink = createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey });
    const ledger = new RedisLedger(redis, { prefix: uniquePrefix("stat"), ttlSeconds: 86_400 });
    const events = [event(0), event(1), event(2, { properties: { model: "claude", type: "output" } })];
    await sink.send(events);
    await sink.send(events);
    expect(await ledger.recordDelivered("openmeter", events)).toBe(3);
    expect(await ledger.recordDelivered("openmeter", events)).toBe(0);
    expect(sandbox.state.openmeterEvents()).toHaveLength(6);
    const r = await runReconcile({ destination: "openmeter", from: FROM, to: TO, ledger, sink, metrics: METRICS });
    expect(r.rows.map((x) => [x.model, x.sent, x.held, x.difference, x.status])).toEqual([
      ["claude", 300, 600, 300, "excess"],
      ["gpt-4o", 300, 600, 300, "excess"],
    ]);
    expect(r.ok).toBe(false);
  });
});
