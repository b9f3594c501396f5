import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import type { Destination } from "../../src/model/index.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { SyncProgress } from "../../src/queue/progress.js";
import { writeLangSmithRuns } from "../support/generate.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, lagoTenantTotals, openmeterTenantTotals, startStack, type Stack } from "../support/stack.js";

const inputs = exampleInputs();

async function syncAndWait(stack: Stack, destination: Destination) {
  const id = await enqueueSync(stack.redis, stack.config, { destination, inputs, mappingPath: MAPPINGS });
  return waitForSync(stack.redis, stack.config, id, undefined, 50);
}

describe("sync through BullMQ to the sandbox (real Redis, real HTTP, official SDKs)", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("delivers both sample exports to both destinations with exact per-tenant totals, and a re-sync changes nothing", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    for (const d of ["lago", "openmeter"] as const) {
      const s = await syncAndWait(stack, d);
      expect(s.error).toBeNull();
      expect(s.dead).toBe(0);
      expect(s.delivered).toBe(s.events);
      expect(SyncProgress.isFinished(s)).toBe(true);
    }
    expect(lagoTenantTotals(stack.sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
    const stored = { lago: stack.sandbox.state.lagoEvents().length, openmeter: stack.sandbox.state.openmeterEvents().length };

    // Replaying the same exports: the ledger holds every key, nothing is sent again.
    for (const d of ["lago", "openmeter"] as const) {
      const s = await syncAndWait(stack, d);
      expect(s.delivered).toBe(0);
      expect(s.already).toBe(s.events);
    }
    expect(stack.sandbox.state.lagoEvents().length).toBe(stored.lago);
    expect(stack.sandbox.state.openmeterEvents().length).toBe(stored.openmeter);
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
    expect(stack.sandbox.state.counts().openmeter.duplicatesStored).toBe(0);

    // The ledger's aggregates agree with what the destinations hold.
    const window = [new Date("2026-11-01T00:00:00Z"), new Date("2026-12-01T00:00:00Z")] as const;
    const ledgerSum = (await stack.ledger.totals("lago", ...window)).reduce((a, t) => a + t.value, 0);
    const expectedSum = Object.values(EXAMPLE_TENANT_TOTALS).reduce((a, t) => a + t.input + t.output, 0);
    expect(ledgerSum).toBe(expectedSum);
  });

  it("ends exact through a storm of 5xx, HTML 502, 429 and connection resets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-storm-"));
    const file = join(dir, "runs.jsonl");
    const tenants = ["acme", "globex", "initech"];
    const expected = await writeLangSmithRuns(file, 1500, tenants); // 3,000 events, 30 batches per destination
    stack = await startStack({
      customers: tenants,
      faults: {
        seed: 7,
        lago: { status5xx: 0.2, html502: 0.1, status429: 0.15, reset: 0.1, retryAfterSeconds: 0 },
        openmeter: { status5xx: 0.25, status429: 0.15, reset: 0.1, retryAfterSeconds: 0 },
      },
    });
    for (const d of ["lago", "openmeter"] as const) {
      const id = await enqueueSync(stack.redis, stack.config, { destination: d, inputs: [file], mappingPath: MAPPINGS });
      const s = await waitForSync(stack.redis, stack.config, id, undefined, 50);
      expect(s.events).toBe(3000);
      expect(s.dead).toBe(0);
      expect(s.delivered + s.already).toBe(s.events);
    }
    const counts = stack.sandbox.state.counts();
    // The storm really happened …
    const faults = (f: Record<string, number | undefined>) => Object.values(f).reduce<number>((a, n) => a + (n ?? 0), 0);
    expect(faults(counts.lago.faults)).toBeGreaterThan(3);
    expect(faults(counts.openmeter.faults)).toBeGreaterThan(3);
    // … and the totals are still exact, with no duplicate stored.
    expect(lagoTenantTotals(stack.sandbox)).toEqual(expected);
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(expected);
    expect(counts.openmeter.duplicatesStored).toBe(0);
  });

  it("dead-letters events of a customer without a Lago subscription and still delivers the rest", async () => {
    const withoutInitech = EXAMPLE_TENANTS.filter((t) => t !== "initech");
    stack = await startStack({ customers: withoutInitech });
    const s = await syncAndWait(stack, "lago");
    const initechEvents = (EXAMPLE_TENANT_TOTALS.initech!.input > 0 ? 1 : 0) + (EXAMPLE_TENANT_TOTALS.initech!.output > 0 ? 1 : 0);
    expect(s.dead).toBeGreaterThanOrEqual(initechEvents);
    expect(s.delivered + s.dead).toBe(s.events);
    const held = lagoTenantTotals(stack.sandbox);
    const { initech: _gone, ...rest } = EXAMPLE_TENANT_TOTALS;
    expect(held).toEqual(rest);
    const letters = await stack.ledger.deadLetters("lago");
    expect(letters.length).toBe(s.dead);
    expect(letters.every((l) => l.event.customer === "initech" && /subscription/i.test(l.reason))).toBe(true);
  });
});
