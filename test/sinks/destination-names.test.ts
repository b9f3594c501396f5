import { describe, expect, it } from "vitest";
import { wireFields, type BillableEvent } from "../../src/model/index.js";
import { toLagoEvent } from "../../src/sinks/lago/to-lago-event.js";
import { toCloudEvent } from "../../src/sinks/openmeter/to-cloud-event.js";
import { billable } from "./events.js";

/** An event whose mapping names the metric and two properties differently per destination. */
const renamed: BillableEvent = billable(1, {
  valueProperty: "tokens",
  properties: { model: "gpt-4o", type: "output", feature: "chat" },
  mappingVersion: "llm-tokens@0123456789ab",
  destinations: {
    lago: { code: "ai_tokens", properties: { model: "model_name", tokens: "units" } },
    openmeter: { type: "com.acme.tokens", properties: { type: "token_type" } },
  },
});

describe("destination names and the mapping version on the wire", () => {
  it("Lago: the billable metric code and property names the mapping gives, the version for audit, the quantity last", () => {
    const e = toLagoEvent(renamed, "sub_acme");
    expect(e.code).toBe("ai_tokens");
    expect(e.properties).toEqual({ model_name: "gpt-4o", type: "output", feature: "chat", mapping_version: "llm-tokens@0123456789ab", units: 101 });
  });

  it("OpenMeter: the event type and data field names the mapping gives", () => {
    const ce = toCloudEvent(renamed);
    expect(ce.type).toBe("com.acme.tokens");
    expect(ce.data).toEqual({ model: "gpt-4o", token_type: "output", feature: "chat", mapping_version: "llm-tokens@0123456789ab", tokens: 101 });
  });

  it("our names where the mapping gives none, and no version property on an event without one", () => {
    const plain = billable(2, { properties: { model: "m", type: "input" } });
    expect(wireFields(plain, "lago")).toEqual({ name: "llm_tokens", properties: { model: "m", type: "input", value: 102 } });
    expect(wireFields({ ...plain, mappingVersion: "x@1" }, "openmeter")).toEqual({ name: "llm_tokens", properties: { model: "m", type: "input", mapping_version: "x@1", value: 102 } });
    // Only OpenMeter renamed: Lago keeps ours.
    expect(wireFields({ ...plain, destinations: { openmeter: { type: "t" } } }, "lago").name).toBe("llm_tokens");
  });

  it("never lets a property replace the quantity", () => {
    const clash = billable(3, { properties: { units: 999 }, destinations: { lago: { code: "c", properties: { value: "units" } } } });
    expect(toLagoEvent(clash, "s").properties).toEqual({ units: 103 });
  });
});
