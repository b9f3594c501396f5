import { describe, expect, it } from "vitest";
import { fromLangfuseBlobObservation, fromLangfuseBlobTrace } from "../../../src/sources/langfuse/blob-export.js";
import { fromLangfuseObservation } from "../../../src/sources/langfuse/from-observation.js";
import { fromLangfuseTrace } from "../../../src/sources/langfuse/from-trace.js";
import { rawLine } from "../helpers.js";
import { LF_BLOB } from "../twins.js";

describe("fromLangfuseBlobObservation", () => {
  it("a ClickHouse row (JSONL: maps as objects, 64-bit counts quoted) reads like its API twin", async () => {
    const row = await rawLine(LF_BLOB.observations1, 3);
    const record = fromLangfuseObservation(fromLangfuseBlobObservation(row));
    expect(record).toMatchObject({
      recordId: "fc6c16c130eb4bdf", traceId: "c6fb6bdb4a2b3490e1d47822fbe28c57", parentId: "5af79682eb61f7f1",
      startTime: "2025-11-20T10:16:06.074Z", modelExecuted: "o4-mini-2025-04-16",
      usage: { input: 2000, output: 700, cacheRead: 1536, cacheWrite: 0, reasoning: 448 },
    });
  });

  it("CSV text cells, 6-digit timestamps, string-map metadata parsed as the API would", () => {
    const row = {
      id: "o1", trace_id: "t1", type: "GENERATION", start_time: "2025-11-20 10:16:05.874123", end_time: "",
      provided_model_name: "gpt-4o", usage_details: '{"input":10,"output":"2"}', cost_details: '{"total":"0.0000015"}',
      metadata: '{"customer_id":"10987","order":"12345678901234567890","cache_hit":"true","hidden_params":"{\\"custom_llm_provider\\":\\"openai\\"}","note":"plain"}',
      user_id: "u1", session_id: "s1", tags: '["prod"]', trace_name: "chat",
    };
    const api = fromLangfuseBlobObservation(row);
    expect(api).toMatchObject({
      traceId: "t1", model: "gpt-4o", usageDetails: { input: 10, output: 2 }, costDetails: { total: "0.0000015" },
      metadata: { customer_id: 10987, order: "12345678901234567890", cache_hit: true, hidden_params: { custom_llm_provider: "openai" }, note: "plain" },
      userId: "u1", sessionId: "s1", tags: ["prod"],
    });
    const record = fromLangfuseObservation(api);
    expect(record).toMatchObject({ startTime: "2025-11-20T10:16:05.874Z", endTime: null, provider: "openai", cacheHit: true, costTotal: 0.0000015, tags: ["prod"] });
  });

  it("metadata split into name/value arrays (events table exports) is a map again", () => {
    const api = fromLangfuseBlobObservation({ id: "o1", trace_id: "t1", type: "SPAN", start_time: "2025-11-20 10:00:00", metadata_names: ["tenant_id", "n"], metadata_values: ["acme", "7"] });
    expect(api["metadata"]).toEqual({ tenant_id: "acme", n: 7 });
  });

  it.each([
    [{ usage_details: "{bad" }, /^usage_details: invalid JSON in the cell/],
    [{ usage_details: "[1]" }, /^usage_details: expected a map$/],
    [{ usage_details: { input: "-1" } }, /^usage_details\.input: negative token count -1$/],
    [{ metadata: "7" }, /^metadata: expected a map$/],
  ])("%j is rejected with the export's column name", (over, message) => {
    expect(() => fromLangfuseBlobObservation({ id: "o1", trace_id: "t1", type: "GENERATION", start_time: "2025-11-20 10:00:00", ...over })).toThrow(message);
  });
});

describe("fromLangfuseBlobTrace", () => {
  it("a traces/ row gives the context its observations inherit", async () => {
    const trace = fromLangfuseTrace(fromLangfuseBlobTrace(await rawLine(LF_BLOB.traces1, 2)));
    expect(trace).toEqual({ traceId: "90b52bd60e78313854fd8318d7cb3137", attributes: { customer_id: 10987, feature: "email-draft" }, tags: [], userId: null, sessionId: null, name: "email-draft" });
  });
});
