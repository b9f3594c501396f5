import { describe, expect, it } from "vitest";
import { fromLangfuseObservation } from "../../../src/sources/langfuse/from-observation.js";
import { fromLangfuseUiObservation, fromLangfuseUiTrace } from "../../../src/sources/langfuse/ui-export.js";
import { readContainer } from "../../../src/sources/read-raw.js";
import { LF_UI } from "../twins.js";

async function csvRow(path: string, id: string): Promise<Record<string, unknown>> {
  for await (const item of readContainer(path, "csv", null)) if (item.ok && item.value["id"] === id) return item.value;
  throw new Error(`no row ${id}`);
}

describe("fromLangfuseUiObservation (CSV cells)", () => {
  it("dates are JSON strings in the cell, objects JSON text, decimals quoted; the trace's tags become the tags", async () => {
    const row = await csvRow(LF_UI.observationsCsv, "c8107a4e297fdc92");
    expect(row["startTime"]).toBe('"2025-11-20T14:20:02.000Z"');
    expect(row["inputPrice"]).toBe('"4e-7"');
    const api = fromLangfuseUiObservation(row);
    expect(api).toMatchObject({
      startTime: "2025-11-20T14:20:02.000Z", inputPrice: "4e-7", tags: ["prod", "triage"], userId: "agent-7",
      usageDetails: { input: 1000, input_cached_tokens: 2048, output: 150, total: 3198 }, traceName: "ticket-triage",
    });
    expect(fromLangfuseObservation(api)).toMatchObject({
      recordId: "c8107a4e297fdc92", startTime: "2025-11-20T14:20:02.000Z", modelExecuted: "gpt-4.1-mini", costTotal: 0.0008448,
      usage: { input: 3048, output: 150, cacheRead: 2048, cacheWrite: 0, reasoning: 0 }, userId: "agent-7", tags: ["prod", "triage"],
    });
  });

  it("empty cells are null; a cell that is not JSON where JSON belongs is the reason", () => {
    const api = fromLangfuseUiObservation({ id: "o1", traceId: "t1", type: "SPAN", startTime: '"2025-11-20T10:00:00.000Z"', metadata: null, usageDetails: null });
    expect(fromLangfuseObservation(api)).toMatchObject({ usage: null, attributes: {}, tags: [] });
    expect(() => fromLangfuseUiObservation({ metadata: "{oops" })).toThrow(/^metadata: invalid JSON in the cell/);
  });
});

describe("fromLangfuseUiTrace", () => {
  it("the traces export keeps metadata as stored strings; they read as the API returns them", async () => {
    const api = fromLangfuseUiTrace(await csvRow(LF_UI.tracesCsv, "90b52bd60e78313854fd8318d7cb3137"));
    expect(api).toMatchObject({ timestamp: "2025-11-20T11:02:10.250Z", tags: [], metadata: { customer_id: 10987, feature: "email-draft" } });
  });
});
