import { describe, expect, it } from "vitest";
import { fromLangfuseObservation } from "../../../src/sources/langfuse/from-observation.js";
import { LF_OBSERVATIONS, rawLine } from "../helpers.js";

// Fixture lines (test/fixtures/langfuse/observations.jsonl) used below:
//  1 CHAIN root   2 EMBEDDING (total only)   3 ChatOpenAI (input_cache_read + output_reasoning)
//  4 ChatAnthropic (input_cache_read/input_cache_creation)   5 ChatAnthropic via the Python handler (raw keys, duplicate breakdown)
//  9 ERROR generation with provided usage   10 the fallback attempt that served
// 12 LiteLLM call (inclusive)   13 LiteLLM cache hit   15 LiteLLM → Anthropic with writes   16 cache_hit as the string "true"
// 17 SPAN   18 TOOL   19 OpenAI integration   20 legacy usage-only record   21 v2 API item (providedModelName)

describe("fromLangfuseObservation: what counts as a model call", () => {
  it.each([[1, "CHAIN"], [17, "SPAN"], [18, "TOOL"]])("line %i (%s) is not billable and has no usage", async (line) => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, line));
    expect(r.isModelCall).toBe(false);
    expect(r.usage).toBeNull();
    expect(r.modelRequested).toBeNull();
  });

  it("GENERATION and EMBEDDING are model calls", async () => {
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 3)).isModelCall).toBe(true);
    const emb = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 2));
    expect(emb.isModelCall).toBe(true);
    expect(emb.usage).toEqual({ input: 512, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });
});

describe("fromLangfuseObservation: usage", () => {
  it("exclusive usageDetails become inclusive", async () => {
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 3)).usage).toEqual({ input: 2000, output: 700, cacheRead: 1536, cacheWrite: 0, reasoning: 448 });
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 4)).usage).toEqual({ input: 5580, output: 420, cacheRead: 3900, cacheWrite: 1500, reasoning: 0 });
  });

  it("the derived promptTokens (which double-counts cache keys) is not used", async () => {
    const raw = await rawLine(LF_OBSERVATIONS, 5);
    expect(raw["promptTokens"]).toBe(7080);
    expect(fromLangfuseObservation(raw).usage).toEqual({ input: 5580, output: 410, cacheRead: 3900, cacheWrite: 1500, reasoning: 0 });
  });

  it("LiteLLM usage is inclusive: input is not increased by the cache keys", async () => {
    const openai = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 12));
    expect(openai.usage).toEqual({ input: 2400, output: 300, cacheRead: 2000, cacheWrite: 0, reasoning: 0 });
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 15)).usage).toEqual({ input: 3000, output: 200, cacheRead: 1000, cacheWrite: 1500, reasoning: 0 });
  });

  it("the same usage without LiteLLM markers is read as exclusive", async () => {
    const raw = await rawLine(LF_OBSERVATIONS, 12);
    expect(fromLangfuseObservation({ ...raw, metadata: {} }).usage?.input).toBe(4400);
  });

  it("legacy usage-only record (no usageDetails)", async () => {
    const raw = await rawLine(LF_OBSERVATIONS, 20);
    expect(raw["usageDetails"]).toBeUndefined();
    expect(fromLangfuseObservation(raw).usage).toEqual({ input: 120, output: 30, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });

  it("v2 item: providedModelName, decimal-string cost", async () => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 21));
    expect(r.modelRequested).toBe("gpt-4.1-mini");
    expect(r.modelExecuted).toBe("gpt-4.1-mini");
    expect(r.usage).toEqual({ input: 3048, output: 150, cacheRead: 2048, cacheWrite: 0, reasoning: 0 });
    expect(r.costTotal).toBeCloseTo(0.0008448, 10);
    expect(r.userId).toBe("agent-7");
  });
});

describe("fromLangfuseObservation: cache hits", () => {
  it("LiteLLM metadata.cache_hit: true, original usage kept, cost 0, response id from the composite id", async () => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 13));
    expect(r.cacheHit).toBe(true);
    expect(r.cacheHitSignal).toBe("metadata.cache_hit");
    expect(r.usage?.input).toBe(2400);
    expect(r.costTotal).toBe(0);
    expect(r.responseId).toBe("chatcmpl-B7xGlobex0001");
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 12)).responseId).toBe("chatcmpl-B7xGlobex0001");
  });

  it("cache_hit kept as the string \"true\" (blob files) counts; false does not", async () => {
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 16)).cacheHit).toBe(true);
    const miss = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 15));
    expect(miss.cacheHit).toBe(false);
    expect(miss.cacheHitSignal).toBeNull();
  });

  it("an observation tag cache_hit:True counts", async () => {
    const raw = await rawLine(LF_OBSERVATIONS, 19);
    const r = fromLangfuseObservation({ ...raw, tags: ["cache_hit:True"] });
    expect(r).toMatchObject({ cacheHit: true, cacheHitSignal: "tag cache_hit:True" });
  });
});

describe("fromLangfuseObservation: status, model, attributes", () => {
  it("level ERROR is an error carrying statusMessage; the provided usage is kept", async () => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 9));
    expect(r.status).toBe("error");
    expect(r.error).toMatch(/^Error code: 429/);
    expect(r.usage).toEqual({ input: 812, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });

  it("WARNING and DEFAULT are successes; a missing level is DEFAULT", async () => {
    const raw = await rawLine(LF_OBSERVATIONS, 19);
    expect(fromLangfuseObservation({ ...raw, level: "WARNING" }).status).toBe("success");
    expect(fromLangfuseObservation({ ...raw, level: undefined }).status).toBe("success");
  });

  it("model, provider, parent, order and ISO times", async () => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 15));
    expect(r).toMatchObject({
      modelRequested: "claude-sonnet-4-20250514",
      modelExecuted: "claude-sonnet-4-20250514",
      provider: "anthropic",
      traceId: "a4b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
      startTime: "2025-11-20T13:05:44.010Z",
      order: "2025-11-20T13:05:44.010Z",
    });
    expect(fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 10)).parentId).toBe("b98fb03bfb2e541f");
  });

  it("metadata becomes flat scalar attributes without LangChain ls_* noise", async () => {
    const r = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 5));
    expect(r.attributes).toEqual({ tenant_id: "acme" });
    const lite = fromLangfuseObservation(await rawLine(LF_OBSERVATIONS, 12));
    expect(lite.attributes["hidden_params"]).toBeUndefined(); // nested object dropped
    expect(lite.attributes["litellm_response_cost"]).toBe(0.0071);
  });
});

describe("fromLangfuseObservation: malformed records throw a clear reason", () => {
  it.each<[string, (r: Record<string, unknown>) => unknown, RegExp]>([
    ["missing id", (r) => ({ ...r, id: null }), /missing id/],
    ["missing traceId", (r) => ({ ...r, traceId: undefined }), /missing traceId/],
    ["unknown type", (r) => ({ ...r, type: "WIDGET" }), /type: unknown value "WIDGET"/],
    ["unknown level", (r) => ({ ...r, level: "FATAL" }), /level: unknown value "FATAL"/],
    ["usageDetails not an object", (r) => ({ ...r, usageDetails: [1, 2] }), /usageDetails: expected an object/],
    ["negative count", (r) => ({ ...r, usageDetails: { input: -1 } }), /negative token count/],
    ["bad startTime", (r) => ({ ...r, startTime: "soon" }), /startTime: not an ISO-8601 timestamp/],
    ["bad cost", (r) => ({ ...r, costDetails: { total: "free" } }), /costDetails.total: not a number/],
  ])("%s", async (_label, mutate, message) => {
    const raw = await rawLine(LF_OBSERVATIONS, 19);
    expect(() => fromLangfuseObservation(mutate(raw))).toThrow(message);
  });
});
