import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { repairMissing } from "../../src/cli/commands/reconcile.js";
import { RedisLedger } from "../../src/ledger/redis-ledger.js";
import { loadMappingSet, metricsOf, type MappingSet } from "../../src/mapping/index.js";
import type { BillableEvent, Destination } from "../../src/model/index.js";
import { mapInputs } from "../../src/pipeline/map-inputs.js";
import { runReconcile } from "../../src/reconcile/run.js";
import { demoSeed, startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { MAPPINGS } from "../support/stack.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";

const inputs = exampleInputs();

describe("reconcile --repair", () => {
  let redis: Redis;
  let mappings: MappingSet;
  let events: BillableEvent[];
  let from: Date;
  let to: Date;
  const sandboxes: Sandbox[] = [];
  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    mappings = await loadMappingSet(MAPPINGS);
    events = [];
    for await (const item of mapInputs(inputs, mappings)) if (item.kind === "event") events.push(item.event);
    const times = events.map((e) => Date.parse(e.timestamp));
    from = new Date(Math.min(...times));
    to = new Date(Math.max(...times) + 1000);
  });
  afterAll(async () => {
    await redis.quit();
    for (const s of sandboxes) await s.stop();
  });

  for (const destination of ["lago", "openmeter"] as Destination[]) {
    it(`${destination}: events the biller lost are reported missing, re-sent once, then everything matches with zero duplicates`, async () => {
      expect(events.length).toBeGreaterThan(10);
      const customers = [...new Set(events.map((e) => e.customer))];
      // The sandbox's billing period opens at the earliest event, so nothing is `late` here.
      const sandbox = await startSandbox({ port: 0, seed: demoSeed(customers, metricsOf(mappings)), now: () => from });
      sandboxes.push(sandbox);
      const sink =
        destination === "lago"
          ? createSink("lago", { url: sandbox.lagoApiUrl, apiKey: sandbox.lagoApiKey })
          : createSink("openmeter", { url: sandbox.openmeterUrl, apiKey: sandbox.openmeterApiKey });
      const ledger = new RedisLedger(redis, { prefix: uniquePrefix("repair"), ttlSeconds: 86_400 });
      // A sync: everything delivered and recorded.
      for (let i = 0; i < events.length; i += sink.limits.maxBatchSize) {
        const batch = events.slice(i, i + sink.limits.maxBatchSize);
        expect((await sink.send(batch)).every((o) => o.status === "delivered")).toBe(true);
      }
      await ledger.recordDelivered(destination, events);
      const metrics = metricsOf(mappings);
      expect((await runReconcile({ destination, from, to, ledger, sink, metrics })).ok).toBe(true);

      // The biller loses 3 events of one customer.
      const lost = events.filter((e) => e.customer === events[0]!.customer).slice(0, 3);
      expect(sandbox.deleteEvents(destination, lost.map((e) => e.id))).toBe(3);
      // Just recorded: within the destination's ingestion lag the shortfall is only pending…
      const fresh = await runReconcile({ destination, from, to, ledger, sink, metrics, pendingMinutes: 30 });
      expect(fresh.ok).toBe(true);
      const pendingRows = fresh.rows.filter((r) => r.status === "pending");
      expect(pendingRows.length).toBeGreaterThan(0);
      expect(-pendingRows.reduce((a, r) => a + r.difference, 0)).toBe(lost.reduce((a, e) => a + e.value, 0));
      // …and missing once the lag is over (here: no lag allowed).
      const before = await runReconcile({ destination, from, to, ledger, sink, metrics, pendingMinutes: 0 });
      expect(before.ok).toBe(false);
      const missing = before.rows.filter((r) => r.status === "missing");
      expect(missing.length).toBeGreaterThan(0);
      expect(-missing.reduce((a, r) => a + r.difference, 0)).toBe(lost.reduce((a, e) => a + e.value, 0));

      const posted = () => sandbox.state.requests({ destination, method: "POST" }).filter((q) => q.status !== 400 && q.status !== 422).reduce((a, q) => a + q.events, 0);
      const postedBefore = posted();
      const r = await repairMissing({ report: before, inputs, mappings, sink, ledger, destination });
      // Every event of the missing rows was a candidate; only the lost ones were stored again.
      expect(r.failed).toEqual([]);
      expect(r.candidates).toBe(r.delivered + r.already);
      expect(r.candidates).toBeGreaterThanOrEqual(3);
      if (destination === "lago") {
        // Lago refuses the held ones by transaction_id (duplicate); the lost ones are accepted.
        expect(r.delivered).toBe(3);
        expect(r.already).toBe(r.candidates - 3);
        expect(r.sentNow.reduce((a, t) => a + t.value, 0)).toBe(lost.reduce((a, e) => a + e.value, 0));
      } else {
        // OpenMeter looked every candidate up by id and posted only the 3 absent ones.
        expect(posted() - postedBefore).toBe(3);
      }

      const after = await runReconcile({ destination, from, to, ledger, sink, metrics, recent: r.sentNow });
      expect(after.rows.map((x) => x.status).every((s) => s === "matched")).toBe(true);
      expect(after.ok).toBe(true);
      // Zero duplicates at the destination: each event id stored exactly once.
      const ids = destination === "lago" ? sandbox.state.lagoEvents().map((e) => e.transaction_id) : sandbox.state.openmeterEvents().map((e) => e.id);
      expect(ids.length).toBe(events.length);
      expect(new Set(ids).size).toBe(events.length);
      if (destination === "openmeter") expect(sandbox.state.counts().openmeter.duplicatesStored).toBe(0);

      // Repairing again sends nothing.
      const again = await repairMissing({ report: after, inputs, mappings, sink, ledger, destination });
      expect(again).toMatchObject({ candidates: 0, delivered: 0, already: 0 });
    });
  }
});
