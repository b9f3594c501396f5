import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import type { Destination } from "../../src/model/index.js";
import { createMetrics, noMetrics, skipReasonLabel, MISMATCH_STATUSES, type Metrics } from "../../src/ops/metrics.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { startScheduledReconcile, type ScheduledReconcile } from "../../src/queue/reconcile-schedule.js";
import { redisConnection } from "../../src/queue/worker.js";
import { createLogger } from "../../src/runtime/logger.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";
import { parseProm, samples, total, type Sample } from "./prom.js";

const inputs = exampleInputs();

async function scrape(metrics: Metrics): Promise<Sample[]> {
  return parseProm((await metrics.scrape()).body);
}

async function sync(stack: Stack, destination: Destination) {
  const id = await enqueueSync(stack.redis, stack.config, { destination, inputs, mappingPath: MAPPINGS });
  return waitForSync(stack.redis, stack.config, id, undefined, 50);
}

describe("skip reason labels", () => {
  it("are the rule name, or the mapping and the kind of problem without the record's own values", () => {
    expect(skipReasonLabel("llm-tokens/success-only: Failed or unfinished calls are not billed.")).toBe("llm-tokens/success-only");
    expect(skipReasonLabel("llm-tokens: no customer: record.attributes.tenant_id, record.attributes.customer_id gave no value")).toBe("llm-tokens: no customer");
    expect(skipReasonLabel("llm-tokens: usage time '2026-13-45' is not a date")).toBe("llm-tokens: usage time");
    expect(skipReasonLabel("llm-tokens: usage.input is 1.5, not a whole number of tokens")).toBe("llm-tokens: usage.input is");
  });
});

describe("pipeline metrics of a worker (real Redis, sandbox, BullMQ)", () => {
  let stack: Stack | undefined;
  let scheduled: ScheduledReconcile | undefined;
  afterEach(async () => {
    await scheduled?.close();
    await stack?.stop();
    stack = scheduled = undefined;
  });

  it("counts each stage of a sync of the examples as the sync summary and the ledger report it", async () => {
    const metrics = createMetrics();
    stack = await startStack({ customers: EXAMPLE_TENANTS, pipelineMetrics: metrics });
    const summaries = { lago: await sync(stack, "lago"), openmeter: await sync(stack, "openmeter") };
    const all = await scrape(metrics);
    const window = [new Date("2000-01-01T00:00:00Z"), new Date("2100-01-01T00:00:00Z")] as const;
    for (const d of ["lago", "openmeter"] as const) {
      const s = summaries[d];
      const l = { destination: d };
      expect(s.error).toBeNull();
      const recordsRead = Object.values(s.perInput).reduce((a, i) => a + i.records, 0);
      expect(recordsRead).toBeGreaterThan(0);
      expect(total(all, "tracebill_records_read_total", l)).toBe(recordsRead);
      expect(total(all, "tracebill_records_quarantined_total", l)).toBe(s.quarantined);
      expect(total(all, "tracebill_events_mapped_total", l)).toBe(s.events);
      expect(total(all, "tracebill_records_waiting_total", l)).toBe(s.parked);
      // Skips by bounded reason label: the summary's reasons grouped the same way.
      const byLabel: Record<string, number> = {};
      for (const [reason, n] of Object.entries(s.skipReasons)) byLabel[skipReasonLabel(reason)] = (byLabel[skipReasonLabel(reason)] ?? 0) + n;
      const skipped = Object.fromEntries(samples(all, "tracebill_records_skipped_total", l).map((x) => [x.labels.reason!, x.value]));
      expect(skipped).toEqual(byLabel);
      expect(total(all, "tracebill_records_skipped_total", l)).toBe(s.skipped);
      // Delivered = what the sync settled as delivered = what the ledger recorded = what the destination stored.
      const ledgerEvents = (await stack.ledger.totals(d, ...window)).reduce((a, t) => a + t.events, 0);
      expect(total(all, "tracebill_events_delivered_total", l)).toBe(s.delivered);
      expect(total(all, "tracebill_events_delivered_total", l)).toBe(ledgerEvents);
      const stored = d === "lago" ? stack.sandbox.state.lagoEvents().length : stack.sandbox.state.openmeterEvents().length;
      expect(total(all, "tracebill_events_delivered_total", l)).toBe(stored);
      // No faults: everything sent was delivered on the first try.
      expect(total(all, "tracebill_events_sent_total", l)).toBe(s.delivered);
      expect(total(all, "tracebill_events_duplicate_total", l)).toBe(s.already);
      expect(total(all, "tracebill_events_retried_total", l)).toBe(0);
      expect(total(all, "tracebill_events_dead_lettered_total", l)).toBe(s.dead);
      // One latency observation per request that carried events.
      const ingestRequests = Object.entries(stack.sandbox.state.counts()[d].byRoute)
        .filter(([route]) => route.startsWith("POST") && /events/.test(route))
        .reduce((a, [, n]) => a + n, 0);
      expect(total(all, "tracebill_destination_send_seconds_count", { ...l, result: "ok" })).toBe(ingestRequests);
      expect(total(all, "tracebill_ingest_duration_seconds_count", { ...l, result: "ok" })).toBe(1);
      // Queue depths, read from BullMQ on scrape: all drained.
      expect(samples(all, "tracebill_queue_jobs", { queue: `deliver-${d}`, state: "waiting" })).toHaveLength(1);
      expect(total(all, "tracebill_queue_jobs", { queue: `deliver-${d}`, state: "waiting" })).toBe(0);
    }
    expect(samples(all, "tracebill_queue_jobs", { queue: "ingest", state: "active" })).toHaveLength(1);
    // prom-client's default process metrics are there too.
    expect(samples(all, "process_cpu_user_seconds_total")).toHaveLength(1);
    expect(samples(all, "nodejs_heap_size_used_bytes")).toHaveLength(1);

    // A replay: nothing is sent again; every event is counted as a duplicate found in the ledger.
    const again = await sync(stack, "lago");
    const after = await scrape(metrics);
    expect(again.already).toBe(again.events);
    expect(total(after, "tracebill_events_delivered_total", { destination: "lago" })).toBe(summaries.lago.delivered);
    expect(total(after, "tracebill_events_duplicate_total", { destination: "lago", found_by: "ledger" })).toBe(summaries.lago.already + again.already);
    expect(total(after, "tracebill_events_mapped_total", { destination: "lago" })).toBe(summaries.lago.events + again.events);
  });

  it("counts retries and dead letters when requests fail and events are refused, and delivered still equals the ledger", async () => {
    const metrics = createMetrics();
    // initech has no subscription in this sandbox: its events are refused and dead-lettered.
    stack = await startStack({
      customers: EXAMPLE_TENANTS.filter((t) => t !== "initech"),
      pipelineMetrics: metrics,
      // The first two event requests fail (5xx), then Lago answers again.
      faults: { lago: { status5xx: 1, retryAfterSeconds: 0, limit: 2 } },
    });
    const s = await sync(stack, "lago");
    const all = await scrape(metrics);
    const l = { destination: "lago" };
    const faults = Object.values(stack.sandbox.state.counts().lago.faults).reduce<number>((a, n) => a + (n ?? 0), 0);
    expect(faults).toBe(2);
    expect(total(all, "tracebill_events_retried_total", l)).toBeGreaterThan(0);
    expect(s.dead).toBeGreaterThan(0);
    expect(total(all, "tracebill_events_dead_lettered_total", l)).toBe(s.dead);
    expect(total(all, "tracebill_events_dead_lettered_total", l)).toBe((await stack.ledger.deadLetters("lago", 10_000)).length);
    const ledgerEvents = (await stack.ledger.totals("lago", new Date("2000-01-01T00:00:00Z"), new Date("2100-01-01T00:00:00Z"))).reduce((a, t) => a + t.events, 0);
    expect(total(all, "tracebill_events_delivered_total", l) + total(all, "tracebill_events_duplicate_total", { ...l, found_by: "destination" })).toBe(ledgerEvents);
    expect(total(all, "tracebill_events_sent_total", l)).toBeGreaterThan(total(all, "tracebill_events_delivered_total", l));
  });

  it("reports the scheduled reconciliation's rows that do not match, by status", async () => {
    const metrics = createMetrics();
    stack = await startStack({ customers: EXAMPLE_TENANTS, pipelineMetrics: metrics });
    await sync(stack, "lago");
    const reportsDir = mkdtempSync(join(tmpdir(), "tb-ops-rec-"));
    const config = { ...stack.config, reportsDir, mappingsDir: MAPPINGS };
    const dir = join(reportsDir, "scheduled", "lago");
    const reports = () => (existsSync(dir) ? readdirSync(dir).sort() : []);
    const start = () =>
      startScheduledReconcile({
        config, connection: () => redisConnection(config.redisUrl), sinks: { lago: stack!.sinks.lago }, ledger: stack!.ledger,
        logger: createLogger("silent"), schedule: { everyMs: 200, days: 10 }, now: () => new Date("2026-11-26T12:00:00Z"), metrics,
      });
    scheduled = await start();
    while (reports().length === 0) await new Promise((r) => setTimeout(r, 50));
    await scheduled.close();
    scheduled = undefined;
    let all = await scrape(metrics);
    expect(total(all, "tracebill_reconcile_runs_total", { destination: "lago", result: "match" })).toBe(reports().length);
    for (const status of MISMATCH_STATUSES) expect(total(all, "tracebill_reconcile_mismatched_rows", { destination: "lago", status })).toBe(0);

    // The biller loses everything it held: the next run finds rows that differ (pending: the ledger
    // recorded them minutes ago, within the destination's ingestion lag).
    stack.sandbox.reset();
    const before = reports().length;
    scheduled = await start();
    while (reports().length === before) await new Promise((r) => setTimeout(r, 50));
    await scheduled.close();
    scheduled = undefined;
    const last = JSON.parse(readFileSync(join(dir, reports().at(-1)!, "report.json"), "utf8")) as { ok: boolean; rows: { status: string }[] };
    all = await scrape(metrics);
    const notMatched = last.rows.filter((r) => r.status !== "matched").length;
    expect(notMatched).toBeGreaterThan(0);
    for (const status of MISMATCH_STATUSES) {
      expect(total(all, "tracebill_reconcile_mismatched_rows", { destination: "lago", status })).toBe(last.rows.filter((r) => r.status === status).length);
    }
    expect(total(all, "tracebill_reconcile_runs_total", { destination: "lago" })).toBe(reports().length);
  });

  it("each worker has its own registry, and the no-op default records nothing", async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.delivery("lago", { delivered: 3 });
    expect(total(await scrape(a), "tracebill_events_delivered_total", { destination: "lago" })).toBe(3);
    expect(total(await scrape(b), "tracebill_events_delivered_total", { destination: "lago" })).toBe(0);
    expect(await noMetrics.timeSend("lago", async () => 42)).toBe(42);
  });
});
