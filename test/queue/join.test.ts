import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { previewCommand } from "../../src/cli/commands/preview.js";
import type { Destination } from "../../src/model/index.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { MAPPINGS, ROOT, lagoTenantTotals, openmeterTenantTotals, startStack, type Stack } from "../support/stack.js";
import { LANGFUSE_FIXTURE_TOTALS } from "../support/expected.js";

const OBSERVATIONS = join(ROOT, "test/fixtures/langfuse/observations.jsonl");
const TRACES = join(ROOT, "test/fixtures/langfuse/traces.json");
const LANGFUSE_TOTALS = LANGFUSE_FIXTURE_TOTALS;
const TENANTS = Object.keys(LANGFUSE_TOTALS);

async function sync(stack: Stack, destination: Destination, inputs: string[]) {
  const id = await enqueueSync(stack.redis, stack.config, { destination, inputs, mappingPath: MAPPINGS });
  return waitForSync(stack.redis, stack.config, id, undefined, 50);
}

describe("joining records to trace contexts across files and jobs (Redis context store)", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("observations first, traces in a later job: records wait for their trace, then bill exactly", async () => {
    stack = await startStack({ customers: TENANTS });
    const first = await sync(stack, "lago", [OBSERVATIONS]);
    expect(first.parked).toBeGreaterThan(0);
    expect(first.dead).toBe(0);
    const partial = lagoTenantTotals(stack.sandbox);
    expect(partial).not.toEqual(LANGFUSE_TOTALS);

    const second = await sync(stack, "lago", [TRACES]);
    expect(second.events).toBeGreaterThan(0);
    expect(second.parked).toBe(0);
    expect(lagoTenantTotals(stack.sandbox)).toEqual(LANGFUSE_TOTALS);
  });

  it("traces first, observations in a later job: the stored context joins them", async () => {
    stack = await startStack({ customers: TENANTS });
    const first = await sync(stack, "openmeter", [TRACES]);
    expect(first.events).toBe(0);
    const second = await sync(stack, "openmeter", [OBSERVATIONS]);
    // The fixture's one model call with no tenant anywhere belongs to a trace the export lacks: it waits, unbilled.
    expect(second.parked).toBe(1);
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(LANGFUSE_TOTALS);
  });

  it("the same records twice in one sync (overlapping export windows) bill once, on OpenMeter too", async () => {
    stack = await startStack({ customers: TENANTS });
    const dir = mkdtempSync(join(tmpdir(), "tb-dup-"));
    const copy = join(dir, "observations-again.jsonl");
    copyFileSync(OBSERVATIONS, copy);
    const s = await sync(stack, "openmeter", [OBSERVATIONS, copy, TRACES]);
    expect(s.dead).toBe(0);
    expect(s.delivered).toBe(s.events / 2);
    expect(s.already).toBe(s.events / 2);
    expect(openmeterTenantTotals(stack.sandbox)).toEqual(LANGFUSE_TOTALS);
    expect(stack.sandbox.state.counts().openmeter.duplicatesStored).toBe(0);
  });
});

describe("preview without the traces export", () => {
  it("skips records whose trace never arrived, saying so, instead of billing a guess", async () => {
    let out = "";
    const sink = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
    await previewCommand([OBSERVATIONS], { mapping: MAPPINGS, format: "json" }, sink);
    const doc = JSON.parse(out) as { skipped: { reason: string }[]; events: { customer: string }[] };
    const orphans = doc.skipped.filter((s) => /never arrived in these inputs/.test(s.reason));
    expect(orphans.length).toBeGreaterThan(0);
    expect(doc.events.every((e) => TENANTS.includes(e.customer))).toBe(true);
  });
});
