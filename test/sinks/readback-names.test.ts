import { afterEach, describe, expect, it } from "vitest";
import type { DestinationNames } from "../../src/model/index.js";
import { startSandbox, type Sandbox } from "../../src/sandbox/index.js";
import { createSink } from "../../src/sinks/registry.js";
import { billable, expectedTotals, sortTotals, WINDOW } from "./events.js";

const NAMES: DestinationNames = {
  lago: { code: "ai_tokens", properties: { value: "tokens", model: "model_name" } },
  openmeter: { type: "ai.tokens", properties: { value: "tokens", model: "model_name" } },
};

describe("read-back under the mapping's destination names", () => {
  let sb: Sandbox;
  afterEach(() => sb.stop());

  it("finds what was sent under Lago's and OpenMeter's own names and reports it under ours", async () => {
    sb = await startSandbox({
      seed: {
        lago: {
          customers: [{ external_id: "acme", subscriptions: [{ external_id: "sub_acme", plan_code: "p", status: "active" }] }],
          billable_metrics: [{ code: "ai_tokens", aggregation_type: "sum_agg", field_name: "tokens" }],
        },
        openmeter: { meters: [{ slug: "ai_tokens", eventType: "ai.tokens", aggregation: "SUM", valueProperty: "$.tokens", groupBy: { model_name: "$.model_name" } }] },
      },
    });
    const events = Array.from({ length: 12 }, (_, i) => billable(i, { destinations: NAMES }));
    const metrics = [{ metric: "llm_tokens", valueProperty: "value", destinations: NAMES }];
    for (const sink of [
      createSink("lago", { url: sb.lagoApiUrl, apiKey: sb.lagoApiKey }),
      createSink("openmeter", { url: sb.openmeterUrl, apiKey: sb.openmeterApiKey }),
    ]) {
      expect((await sink.send(events)).every((o) => o.status === "delivered")).toBe(true);
      const held = await sink.readTotals({ ...WINDOW, customers: ["acme"], metrics });
      expect(sortTotals(held)).toEqual(expectedTotals(events));
    }
    // The wire really used their names.
    expect(new Set(sb.state.lagoEvents().map((e) => e.code))).toEqual(new Set(["ai_tokens"]));
    expect(sb.state.openmeterEvents().every((e) => e.type === "ai.tokens" && typeof e.data?.tokens === "number" && typeof e.data?.model_name === "string")).toBe(true);
  });
});
