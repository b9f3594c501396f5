import { afterEach, describe, expect, it } from "vitest";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { explainCommand } from "../../src/cli/commands/explain.js";
import { loadMappingSet } from "../../src/mapping/index.js";
import { mapInputs } from "../../src/pipeline/map-inputs.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";

const inputs = exampleInputs();
const capture = () => {
  let text = "";
  return { out: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
};

describe("tracebill explain", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it("traces an event to its source record, mapping version and delivery status; a skipped record to its reason", async () => {
    stack = await startStack({ customers: EXAMPLE_TENANTS });
    const id = await enqueueSync(stack.redis, stack.config, { destination: "lago", inputs, mappingPath: MAPPINGS });
    await waitForSync(stack.redis, stack.config, id, undefined, 50);
    // Pick one billed event and one skipped record from the same inputs, independently of explain.
    const set = await loadMappingSet(MAPPINGS);
    let event: { id: string; record: string; customer: string } | undefined;
    let skipped: { record: string; reason: string } | undefined;
    for await (const item of mapInputs(inputs, set)) {
      if (item.kind === "event" && !event) event = { id: item.event.id, record: item.event.source.record_id, customer: item.event.customer };
      if (item.kind === "skip" && !skipped && /success-only/.test(item.skip.reason)) skipped = { record: item.skip.source_record_id, reason: item.skip.reason };
    }
    const ctx = { redis: stack.redis, config: stack.config };

    const a = capture();
    expect(await explainCommand(event!.id, { inputs, mapping: MAPPINGS, json: true }, a.out, ctx)).toBe(0);
    const x = JSON.parse(a.text());
    expect(x.matched).toBe("event");
    expect(x.events).toHaveLength(1);
    expect(x.events[0].source.record_id).toBe(event!.record);
    expect(x.events[0].customer).toBe(event!.customer);
    expect(x.events[0].mappingVersion).toMatch(/^llm-tokens@[0-9a-f]{12}$/);
    expect(x.events[0].delivery).toEqual({ lago: { status: "delivered" }, openmeter: { status: "not delivered" } });

    const b = capture();
    expect(await explainCommand(skipped!.record, { inputs, mapping: MAPPINGS }, b.out, ctx)).toBe(0);
    expect(b.text()).toContain(`not billed: ${skipped!.reason}`);

    const c = capture();
    expect(await explainCommand("no-such-id", { inputs, mapping: MAPPINGS }, c.out, ctx)).toBe(1);
    expect(c.text()).toContain("no event or source record with this id");
  });
});
