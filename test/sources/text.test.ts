import { describe, expect, it } from "vitest";
import { fromLangfuseObservation } from "../../src/sources/langfuse/from-observation.js";
import { fromLangSmithRun } from "../../src/sources/langsmith/from-run.js";
import { plainText } from "../../src/sources/text.js";

const lsRun = (over: Record<string, unknown>) => ({
  id: "r1",
  trace_id: "r0",
  parent_run_id: "r0",
  run_type: "llm",
  name: "ChatOpenAI",
  start_time: "2026-01-01T00:00:00Z",
  end_time: "2026-01-01T00:00:01Z",
  status: "success",
  ...over,
});

const lfObs = (over: Record<string, unknown>) => ({
  id: "o1",
  traceId: "t1",
  type: "GENERATION",
  startTime: "2026-01-01T00:00:00Z",
  endTime: "2026-01-01T00:00:01Z",
  ...over,
});

describe("plainText: the text in prompts and completions", () => {
  it.each([
    ["a string", "hi", "hi"],
    ["OpenAI messages", [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], "Be brief.\nHi"],
    ["content parts", [{ role: "user", content: [{ type: "text", text: "Look" }, { type: "image_url", image_url: { url: "x" } }] }], "Look"],
    ["serialized LangChain messages", [[{ lc: 1, type: "constructor", id: ["HumanMessage"], kwargs: { content: "Hello" } }]], "Hello"],
    ["generations", [[{ text: "", message: { kwargs: { content: "Answer" } } }]], "Answer"],
    ["{messages: …}", { messages: [{ role: "user", content: "Q" }] }, "Q"],
    ["an object without text at the top", { query: "q", k: 3 }, '{"query":"q","k":3}'],
    ["nothing", [], null],
    ["null", null, null],
  ])("%s", (_, value, text) => {
    expect(plainText(value)).toBe(text);
  });
});

describe("normalizers: text, only for a model call without usage", () => {
  it("LangSmith: inputs.messages / inputs.prompts and outputs.generations", () => {
    const chat = fromLangSmithRun(
      lsRun({
        inputs: { messages: [[{ lc: 1, type: "constructor", id: ["HumanMessage"], kwargs: { content: "Hello, world!" } }]] },
        outputs: { generations: [[{ text: "The quick brown fox jumps over the lazy dog." }]] },
      }),
    );
    expect(chat.usage).toBeNull();
    expect(chat.text).toEqual({ input: "Hello, world!", output: "The quick brown fox jumps over the lazy dog." });
    expect(fromLangSmithRun(lsRun({ inputs: { prompts: ["Say hi"] } })).text).toEqual({ input: "Say hi", output: null });
  });

  it("LangSmith: no text when usage is reported, on a chain, or when there is none", () => {
    const reported = fromLangSmithRun(
      lsRun({ inputs: { prompts: ["Say hi"] }, extra: { metadata: { usage_metadata: { input_tokens: 3, output_tokens: 1, total_tokens: 4 } } } }),
    );
    expect(reported.usage).not.toBeNull();
    expect(reported).not.toHaveProperty("text");
    expect(fromLangSmithRun(lsRun({ run_type: "chain", inputs: { prompts: ["x"] } }))).not.toHaveProperty("text");
    expect(fromLangSmithRun(lsRun({}))).not.toHaveProperty("text");
  });

  it("Langfuse: input and output", () => {
    const r = fromLangfuseObservation(lfObs({ input: [{ role: "user", content: "Hello, world!" }], output: { role: "assistant", content: "Hi" } }));
    expect(r.text).toEqual({ input: "Hello, world!", output: "Hi" });
    expect(fromLangfuseObservation(lfObs({ input: "x", usageDetails: { input: 5, output: 1 } }))).not.toHaveProperty("text");
  });
});

describe("normalizers: structured metadata (lists and maps attributes leave out)", () => {
  const shares = [{ tenant: "acme", tokens: 300 }, { tenant: "globex", tokens: 700 }];

  it("LangSmith keeps the run's own list and map metadata as sent", () => {
    const r = fromLangSmithRun(
      lsRun({ extra: { metadata: { batch_shares: shares, tenant_id: "acme", ls_provider: "openai", usage_metadata: null, langgraph_path: ["__pregel_pull", "agent"] } } }),
    );
    expect(r.structured).toEqual({ batch_shares: shares });
    expect(r.attributes).toEqual({ tenant_id: "acme" });
    expect(fromLangSmithRun(lsRun({ extra: { metadata: { tenant_id: "acme" } } }))).not.toHaveProperty("structured");
  });

  it("Langfuse reads a JSON list kept as text (file exports) like the parsed one (API)", () => {
    expect(fromLangfuseObservation(lfObs({ metadata: { batch_shares: shares } })).structured).toEqual({ batch_shares: shares });
    expect(fromLangfuseObservation(lfObs({ metadata: { batch_shares: JSON.stringify(shares) } })).structured).toEqual({ batch_shares: shares });
    expect(fromLangfuseObservation(lfObs({ metadata: { note: "[not json", hidden_params: { a: 1 } } }))).not.toHaveProperty("structured");
  });
});
