import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { EXAMPLE_TENANT_TOTALS, EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, lagoTenantTotals, startStack, type Stack } from "../support/stack.js";

describe("delivery guards", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("sends nothing when Lago does not know the metric code (it would accept and never bill)", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS, metrics: [] });
    const id = await enqueueSync(stack.redis, stack.config, { destination: "lago", inputs: exampleInputs(), mappingPath: MAPPINGS });
    const s = await waitForSync(stack.redis, stack.config, id, undefined, 50);
    expect(s.error).toMatch(/llm_tokens/);
    expect(s.error).toMatch(/nothing was sent/);
    expect(stack.sandbox.state.lagoEvents()).toHaveLength(0);
  });

  it("pauses delivery while the destination is down instead of burning attempts, and resumes by itself", async () => {
    // Two attempts only: if the outage spent attempts, events would be dead-lettered.
    stack = await startStack({ customers: EXAMPLE_TENANTS, maxAttempts: 2, faults: { seed: 3, lago: { status5xx: 1, scope: "ingest" } } });
    const id = await enqueueSync(stack.redis, stack.config, { destination: "lago", inputs: exampleInputs(), mappingPath: MAPPINGS });
    await new Promise((r) => setTimeout(r, 1500));
    expect(stack.sandbox.state.counts().lago.faults.status5xx ?? 0).toBeGreaterThan(0);
    stack.sandbox.setFaults({});
    const s = await waitForSync(stack.redis, stack.config, id, undefined, 50);
    expect(s.dead).toBe(0);
    expect(lagoTenantTotals(stack.sandbox)).toEqual(EXAMPLE_TENANT_TOTALS);
  });
});
