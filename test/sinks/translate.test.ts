import { describe, expect, it } from "vitest";
import { toLagoEvent, toLagoTimestamp } from "../../src/sinks/lago/to-lago-event.js";
import { cloudEventProblems, toCloudEvent } from "../../src/sinks/openmeter/to-cloud-event.js";
import { billable } from "./events.js";

describe("toLagoEvent", () => {
  it("maps a BillableEvent to Lago's EventInputObject", () => {
    const e = billable(1, { timestamp: "2024-07-10T10:00:00.123Z", properties: { model: "gpt-4o", type: "output" } });
    expect(toLagoEvent(e, "sub_acme")).toEqual({
      transaction_id: e.id,
      external_subscription_id: "sub_acme",
      code: "llm_tokens",
      timestamp: 1720605600.123,
      properties: { model: "gpt-4o", type: "output", value: 101 },
    });
    expect(JSON.stringify(toLagoEvent(e, "s").timestamp)).toBe("1720605600.123");
  });

  it("writes the quantity under valueProperty, and a property of the same name never replaces it", () => {
    const e = billable(1, { valueProperty: "tokens", properties: { tokens: 999, model: "m" } });
    expect(toLagoEvent(e, "s").properties).toEqual({ tokens: 101, model: "m" });
  });

  it("sends whole seconds as an integer and passes an unparseable time through for Lago to refuse", () => {
    expect(toLagoTimestamp("2024-07-10T10:00:00Z")).toBe(1720605600);
    expect(toLagoTimestamp("2024-07-10T10:00:00.001Z")).toBe(1720605600.001);
    expect(toLagoTimestamp("yesterday")).toBe("yesterday");
  });
});

describe("toCloudEvent", () => {
  it("maps a BillableEvent to a CloudEvent for OpenMeter", () => {
    const e = billable(2, { customer: "globex", timestamp: "2024-07-10T10:00:03.500Z" });
    expect(toCloudEvent(e)).toEqual({
      specversion: "1.0",
      id: e.id,
      source: "tracebill",
      type: "llm_tokens",
      subject: "globex",
      time: "2024-07-10T10:00:03.500Z",
      data: { model: "gemini-1.5-pro", type: "input", value: 102 },
    });
    expect(toCloudEvent(e, "other-source").source).toBe("other-source");
  });

  it("writes the quantity under valueProperty, and a property of the same name never replaces it", () => {
    expect(toCloudEvent(billable(0, { valueProperty: "tokens", properties: { tokens: "x" } })).data).toEqual({ tokens: 100 });
  });

  it("lists what OpenMeter's validator would refuse", () => {
    expect(cloudEventProblems(toCloudEvent(billable(0)))).toEqual([]);
    expect(cloudEventProblems(toCloudEvent(billable(0, { id: "", customer: "", metric: "" })))).toEqual(["id is empty", "type is empty", "subject is empty"]);
    expect(cloudEventProblems(toCloudEvent(billable(0, { timestamp: "2024-07-10 10:00" })))).toEqual(['time is not an RFC 3339 date-time ("2024-07-10 10:00")']);
    expect(cloudEventProblems(toCloudEvent(billable(0, { value: Infinity })))).toEqual(["data.value is not a finite number"]);
  });
});
