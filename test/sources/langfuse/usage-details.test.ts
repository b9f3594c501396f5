import { describe, expect, it } from "vitest";
import { classifyUsageKey, usageFromLegacyUsage, usageFromUsageDetails } from "../../../src/sources/langfuse/usage-details.js";

describe("classifyUsageKey", () => {
  it.each([
    ["input", "input"], ["prompt_tokens", "input"], ["input_audio_tokens", "input"], ["input_audio", "input"], ["input_tokens", "input"],
    ["input_cached_tokens", "cacheRead"], ["input_cache_read", "cacheRead"], ["cache_read_input_tokens", "cacheRead"], ["Input_Cache_Read", "cacheRead"],
    ["cached_content_token_count", "cacheRead"],
    ["input_cache_creation", "cacheWrite"], ["cache_creation_input_tokens", "cacheWrite"], ["input_cache_write", "cacheWrite"],
    ["input_cache_creation_5m", "cacheWrite5m"], ["cache_creation_ephemeral_5m_input_tokens", "cacheWrite5m"], ["input_ephemeral_5m_input_tokens", "cacheWrite5m"],
    ["input_cache_creation_1h", "cacheWrite1h"], ["cache_creation_ephemeral_1h_input_tokens", "cacheWrite1h"],
    ["output", "output"], ["output_audio_tokens", "output"], ["completion_tokens", "output"], ["output_rejected_prediction_tokens", "output"], ["candidates_token_count", "output"],
    ["output_reasoning_tokens", "reasoning"], ["output_reasoning", "reasoning"], ["thoughts_token_count", "reasoning"],
    ["total", "ignore"], ["total_tokens", "ignore"], ["images", "ignore"],
  ])("%s → %s", (key, bucket) => {
    expect(classifyUsageKey(key)).toBe(bucket);
  });
});

describe("usageFromUsageDetails (exclusive Langfuse buckets → inclusive Usage)", () => {
  it("LangChain handler, OpenAI: input_cache_read and output_reasoning are added back", () => {
    expect(usageFromUsageDetails({ input: 464, input_cache_read: 1536, output: 252, output_reasoning: 448, total: 2700 }, false))
      .toEqual({ input: 2000, output: 700, cacheRead: 1536, cacheWrite: 0, reasoning: 448 });
  });

  it("OpenAI integration: input_cached_tokens, zero detail keys", () => {
    expect(usageFromUsageDetails({ input: 300, input_cached_tokens: 100, input_audio_tokens: 0, output: 40, output_reasoning_tokens: 8, total: 448 }, false))
      .toEqual({ input: 400, output: 48, cacheRead: 100, cacheWrite: 0, reasoning: 8 });
  });

  it("raw Anthropic keys: the ephemeral breakdown duplicates the aggregate and is not added (trap: 7080 vs 5580)", () => {
    expect(usageFromUsageDetails({ input: 180, cache_read_input_tokens: 3900, cache_creation_input_tokens: 1500, cache_creation_ephemeral_5m_input_tokens: 1500, output: 420 }, false))
      .toEqual({ input: 5580, output: 420, cacheRead: 3900, cacheWrite: 1500, reasoning: 0 });
  });

  it("Vercel AI SDK: aggregate input_cache_creation wins over _5m/_1h", () => {
    expect(usageFromUsageDetails({ input: 400, input_cached_tokens: 0, input_cache_creation: 1000, input_cache_creation_5m: 1000, input_cache_creation_1h: 0, output: 90 }, false)?.cacheWrite).toBe(1000);
  });

  it("breakdown only when the aggregate is absent or zero (newer langchain-anthropic through the handler)", () => {
    expect(usageFromUsageDetails({ input: 150, input_cache_creation: 0, input_ephemeral_5m_input_tokens: 2200, output: 120 }, false))
      .toEqual({ input: 2350, output: 120, cacheRead: 0, cacheWrite: 2200, reasoning: 0 });
    expect(usageFromUsageDetails({ input: 10, input_cache_creation_5m: 300, input_cache_creation_1h: 200, output: 1 }, false)?.cacheWrite).toBe(500);
  });

  it("the same cache read under two vocabularies is counted once", () => {
    expect(usageFromUsageDetails({ input: 50, input_cache_write: 700, input_cache_creation: 700, input_cache_read: 30, output: 5 }, false))
      .toEqual({ input: 780, output: 5, cacheRead: 30, cacheWrite: 700, reasoning: 0 });
  });

  it("LiteLLM (inclusive): input already contains cache reads and writes", () => {
    expect(usageFromUsageDetails({ input: 3000, output: 200, total: 3200, cache_read_input_tokens: 1000, cache_creation_input_tokens: 1500 }, true))
      .toEqual({ input: 3000, output: 200, cacheRead: 1000, cacheWrite: 1500, reasoning: 0 });
  });

  it("older LiteLLM left Anthropic writes out of prompt_tokens: an input smaller than its cache parts gets the writes added", () => {
    expect(usageFromUsageDetails({ input: 1100, output: 20, cache_read_input_tokens: 1000, cache_creation_input_tokens: 1500 }, true))
      .toEqual({ input: 2600, output: 20, cacheRead: 1000, cacheWrite: 1500, reasoning: 0 });
  });

  it("embeddings priced on total only; an empty map is no usage", () => {
    expect(usageFromUsageDetails({ total: 512 }, false)).toEqual({ input: 512, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(usageFromUsageDetails({}, false)).toBeNull();
  });

  it("rejects negative, absurd and non-numeric counts, and inclusive cache parts larger than input", () => {
    expect(() => usageFromUsageDetails({ input: -20, output: 5 }, false)).toThrow(/usageDetails.input: negative token count -20/);
    expect(() => usageFromUsageDetails({ input: 5e9 }, false)).toThrow(/implausible/);
    expect(() => usageFromUsageDetails({ input: "12" }, false)).toThrow(/expected a number/);
    expect(() => usageFromUsageDetails({ input: 100, cache_read_input_tokens: 900 }, true)).toThrow(/exceed input tokens/);
  });
});

describe("usageFromLegacyUsage", () => {
  it("reads {unit, input, output, total}; non-token units are not usage", () => {
    expect(usageFromLegacyUsage({ unit: "TOKENS", input: 120, output: 30, total: 150 })).toEqual({ input: 120, output: 30, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(usageFromLegacyUsage({ unit: "CHARACTERS", input: 1200, output: 300 })).toBeNull();
    expect(usageFromLegacyUsage({ unit: "TOKENS", input: null, output: null, total: 0 })).toBeNull();
    expect(() => usageFromLegacyUsage({ unit: "PARSECS", input: 1 })).toThrow(/usage.unit: unknown value "PARSECS"/);
  });
});
