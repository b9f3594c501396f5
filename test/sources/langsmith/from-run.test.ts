import { describe, expect, it } from "vitest";
import { fromLangSmithRun, traceContextFromLangSmithRun } from "../../../src/sources/langsmith/from-run.js";
import { LS_RUNS, LS_RUNS_V2, rawElement, rawLine } from "../helpers.js";

// Fixture lines (test/fixtures/langsmith/runs.jsonl) used below:
//  1 JS traceable root "support-chat" (tenant acme)    2 its ChatOpenAI child (o4-mini, cached + reasoning)
//  6 JS ChatAnthropic (cache_creation)                 9 Python ChatAnthropic (ephemeral_* TTL split)
// 12 JS cache hit (extra.cached)                       13 root "draft-email" (tenant_id sent as a number)
// 14 RunnableWithFallbacks chain                       15 gpt-4o attempt: 429 error with estimated tokens
// 16 claude-3-5-haiku attempt that served              20/21 RunnableRetry attempts (error, then retry:attempt:2)
// 23 traceable llm without usage (server estimate)     26/28 wrap_openai call and its zero-cost replay
// 31 pending llm run

describe("fromLangSmithRun: what counts as a model call", () => {
  it("a root chain with rolled-up totals and the served message in its outputs is not a model call and has no usage", async () => {
    const raw = await rawLine(LS_RUNS, 13);
    // The trap: the chain shows the children's totals and repeats the AIMessage with usage_metadata.
    expect(raw["prompt_tokens"]).toBe(1624);
    expect(JSON.stringify(raw["outputs"])).toContain("usage_metadata");
    const r = fromLangSmithRun(raw);
    expect(r.isModelCall).toBe(false);
    expect(r.usage).toBeNull();
    expect(r.modelRequested).toBeNull();
    expect(r.parentId).toBeNull();
  });

  it("a RunnableWithFallbacks chain is not a model call either", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 14));
    expect(r).toMatchObject({ isModelCall: false, usage: null, name: "RunnableWithFallbacks" });
  });

  it("llm and embedding runs are model calls (v1 lowercase and v2 uppercase)", async () => {
    expect(fromLangSmithRun(await rawLine(LS_RUNS, 2)).isModelCall).toBe(true);
    expect(fromLangSmithRun(await rawElement(LS_RUNS_V2, 1)).isModelCall).toBe(true);
    const embedding = { ...(await rawLine(LS_RUNS, 2)), run_type: "embedding" };
    expect(fromLangSmithRun(embedding).isModelCall).toBe(true);
  });
});

describe("fromLangSmithRun: usage", () => {
  it("OpenAI cached tokens and reasoning: inclusive input, output includes reasoning", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 2));
    expect(r.usage).toEqual({ input: 2000, output: 700, cacheRead: 1536, cacheWrite: 0, reasoning: 448 });
    expect(r.usageEstimated).toBe(false);
  });

  it("Anthropic cache reads and cache_creation writes", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 6));
    expect(r.usage).toEqual({ input: 5580, output: 420, cacheRead: 3900, cacheWrite: 1500, reasoning: 0 });
  });

  it("Anthropic ephemeral_* TTL split with cache_creation 0", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 9));
    expect(r.usage).toEqual({ input: 2250, output: 150, cacheRead: 0, cacheWrite: 2000, reasoning: 0 });
  });

  it("never adds cache_creation on top of non-zero ephemeral keys, and knows the JS wrapper's ephemeral_1hr", async () => {
    const raw = await rawLine(LS_RUNS, 9);
    const withUsage = (details: Record<string, number>) => ({
      ...raw,
      extra: { metadata: { usage_metadata: { input_tokens: 3000, output_tokens: 10, total_tokens: 3010, input_token_details: details } } },
    });
    expect(fromLangSmithRun(withUsage({ cache_creation: 1500, ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 500 })).usage?.cacheWrite).toBe(1500);
    expect(fromLangSmithRun(withUsage({ ephemeral_5m_input_tokens: 200, ephemeral_1hr_input_tokens: 300 })).usage?.cacheWrite).toBe(500);
    expect(fromLangSmithRun(withUsage({ cache_creation: 700 })).usage?.cacheWrite).toBe(700);
  });

  it("reads usage from outputs.usage_metadata (wrap_openai) when extra.metadata has none", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 26));
    expect(r.usage).toEqual({ input: 600, output: 80, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(r.usageEstimated).toBe(false);
  });

  it("falls back to the message's usage_metadata, and then to server counts marked as estimated", async () => {
    const raw = await rawLine(LS_RUNS, 2);
    const extra = raw["extra"] as { metadata: Record<string, unknown> };
    const noMetaUsage = { ...raw, extra: { ...extra, metadata: { ...extra.metadata, usage_metadata: undefined } } };
    expect(fromLangSmithRun(noMetaUsage).usage).toEqual({ input: 2000, output: 700, cacheRead: 1536, cacheWrite: 0, reasoning: 448 });

    const estimated = fromLangSmithRun(await rawLine(LS_RUNS, 23));
    expect(estimated.usage).toEqual({ input: 120, output: 30, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(estimated.usageEstimated).toBe(true);
  });

  it("server counts with v2 {raw} detail wrappers", async () => {
    const raw = await rawElement(LS_RUNS_V2, 1);
    const serverOnly = { ...raw, metadata: { customer_id: "initech" }, outputs: null };
    const r = fromLangSmithRun(serverOnly);
    expect(r.usage).toEqual({ input: 3000, output: 250, cacheRead: 1024, cacheWrite: 0, reasoning: 0 });
    expect(r.usageEstimated).toBe(true);
  });

  it("a chain's usage is never read, even though it carries totals", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 1));
    expect(r.usage).toBeNull();
    expect(r.costTotal).toBeNull();
  });
});

describe("fromLangSmithRun: cache hits", () => {
  it("LangChain JS cache hit: extra.cached, zero usage, the original call's response_metadata.usage is ignored", async () => {
    const raw = await rawLine(LS_RUNS, 12);
    expect(JSON.stringify(raw)).toContain('"prompt_tokens":2000'); // original usage is still in response_metadata
    const r = fromLangSmithRun(raw);
    expect(r.cacheHit).toBe(true);
    expect(r.cacheHitSignal).toBe("extra.cached");
    expect(r.usage).toEqual({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(r.responseId).toBe("chatcmpl-BfT1xAcme0001");
  });

  it("Python-style replay: no flag, but cost 0 with tokens and the same provider response id are exposed", async () => {
    const original = fromLangSmithRun(await rawLine(LS_RUNS, 26));
    const replay = fromLangSmithRun(await rawLine(LS_RUNS, 28));
    expect(replay.cacheHit).toBe(false);
    expect(replay.costTotal).toBe(0);
    expect(replay.replaySignal).toMatch(/total_cost = 0 with tokens/);
    expect(original.replaySignal).toBeNull();
    expect(replay.usage?.input).toBe(600);
    expect(replay.responseId).toBe("chatcmpl-DmGlobexIntent01");
    expect(original.responseId).toBe(replay.responseId);
    expect(original.costTotal).toBeCloseTo(0.000138, 9);
  });

  it("costs as v1 decimal strings and v2 numbers", async () => {
    expect(fromLangSmithRun(await rawLine(LS_RUNS, 6)).costTotal).toBeCloseTo(0.00828, 9);
    expect(fromLangSmithRun(await rawElement(LS_RUNS_V2, 1)).costTotal).toBeCloseTo(0.00128, 9);
  });
});

describe("fromLangSmithRun: status, errors, retries", () => {
  it("an error run keeps its (estimated) tokens so the mapping can skip it knowingly", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 15));
    expect(r.status).toBe("error");
    expect(r.error).toMatch(/^Error: 429 Rate limit reached for gpt-4o/);
    expect(r.usage).toEqual({ input: 812, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    expect(r.usageEstimated).toBe(true);
    expect(r.modelRequested).toBe("gpt-4o");
  });

  it("retry attempts: the failed one is an error, the tagged retry succeeds", async () => {
    const first = fromLangSmithRun(await rawLine(LS_RUNS, 20));
    const second = fromLangSmithRun(await rawLine(LS_RUNS, 21));
    expect(first.status).toBe("error");
    expect(first.error).toMatch(/^APIConnectionError/);
    expect(second.status).toBe("success");
    expect(second.tags).toContain("retry:attempt:2");
  });

  it("status success with an error string is an error; v2 uppercase; pending stays pending", async () => {
    const raw = await rawLine(LS_RUNS, 2);
    expect(fromLangSmithRun({ ...raw, error: "boom" }).status).toBe("error");
    expect(fromLangSmithRun(await rawElement(LS_RUNS_V2, 1)).status).toBe("success");
    const pending = fromLangSmithRun(await rawLine(LS_RUNS, 31));
    expect(pending.status).toBe("pending");
    expect(pending.endTime).toBeNull();
    expect(pending.usage).toBeNull();
  });
});

describe("fromLangSmithRun: models, times, attributes", () => {
  it("requested = ls_model_name, executed = the served (dated) model", async () => {
    const r = fromLangSmithRun(await rawLine(LS_RUNS, 2));
    expect(r.modelRequested).toBe("o4-mini");
    expect(r.modelExecuted).toBe("o4-mini-2025-04-16");
    expect(r.provider).toBe("openai");
  });

  it("falls back to invocation_params, then inputs.model, and executed falls back to requested", async () => {
    const raw = await rawLine(LS_RUNS, 2);
    const bare = { ...raw, extra: { invocation_params: { model_name: "gpt-4o-mini" } }, outputs: null };
    expect(fromLangSmithRun(bare)).toMatchObject({ modelRequested: "gpt-4o-mini", modelExecuted: "gpt-4o-mini" });
    const traceable = fromLangSmithRun(await rawLine(LS_RUNS, 23));
    expect(traceable.modelRequested).toBe("gpt-3.5-turbo-instruct");
  });

  it("timestamps: v1 naive, JS Z, Python +00:00, v2 RFC3339 → ISO UTC with ms", async () => {
    expect(fromLangSmithRun(await rawLine(LS_RUNS, 6)).startTime).toBe("2025-11-20T09:40:11.722Z");
    expect(fromLangSmithRun(await rawLine(LS_RUNS, 2)).endTime).toBe("2025-11-20T09:15:06.164Z");
    expect(fromLangSmithRun(await rawLine(LS_RUNS, 9)).startTime).toBe("2025-11-20T10:02:45.043Z");
    expect(fromLangSmithRun(await rawElement(LS_RUNS_V2, 1)).startTime).toBe("2025-11-21T09:00:00.153Z");
  });

  it("tenant attributes: flat scalars, SDK noise dropped, a numeric id stays a number", async () => {
    const root = fromLangSmithRun(await rawLine(LS_RUNS, 1));
    expect(root.attributes).toEqual({ tenant_id: "acme", feature: "support-chat", user_id: "u-1042" });
    expect(root.feature).toBe("support-chat");
    expect(root.userId).toBe("u-1042");
    const numeric = fromLangSmithRun(await rawLine(LS_RUNS, 13));
    expect(numeric.attributes["tenant_id"]).toBe(10987);
    // The JS child carries only SDK metadata (ls_*, usage_metadata, versions): no tenant on its own.
    const child = fromLangSmithRun(await rawLine(LS_RUNS, 2));
    expect(child.attributes["tenant_id"]).toBeUndefined();
    expect(Object.keys(child.attributes).filter((k) => k.startsWith("ls_") || k === "usage_metadata" || k === "versions")).toEqual([]);
    // v2 returns metadata as a top-level select.
    expect(fromLangSmithRun(await rawElement(LS_RUNS_V2, 0)).attributes).toEqual({ customer_id: "initech", feature: "triage" });
  });

  it("ids and ordering: parent from parent_run_id, trace id from dotted_order when trace_id is absent", async () => {
    const raw = await rawLine(LS_RUNS, 16);
    const r = fromLangSmithRun(raw);
    expect(r.parentId).toBe("019aa127-d63d-78cb-a224-84d6beb76536");
    expect(r.order).toBe(raw["dotted_order"]);
    const noTrace = fromLangSmithRun({ ...raw, trace_id: undefined, parent_run_id: undefined });
    expect(noTrace.traceId).toBe("019aa127-d62e-7f96-b972-8283de9371ce");
    expect(noTrace.parentId).toBe("019aa127-d63d-78cb-a224-84d6beb76536"); // last of parent_run_ids
  });
});

describe("fromLangSmithRun: malformed records throw a clear reason", () => {
  it.each<[string, (r: Record<string, unknown>) => unknown, RegExp]>([
    ["missing id", (r) => ({ ...r, id: undefined }), /missing id/],
    ["id of the wrong type", (r) => ({ ...r, id: 42 }), /id: expected a string/],
    ["unknown run_type", (r) => ({ ...r, run_type: "agent" }), /run_type: unknown value "agent"/],
    ["unknown status", (r) => ({ ...r, status: "DONE" }), /status: unknown value "DONE"/],
    ["tags not an array", (r) => ({ ...r, tags: "prod" }), /tags: expected an array of strings/],
    ["NaN tokens", (r) => withTokens(r, Number.NaN), /input_tokens: not a finite number/],
    ["negative tokens", (r) => withTokens(r, -5), /negative token count -5/],
    ["absurd tokens", (r) => withTokens(r, 2e9), /implausible token count/],
    ["fractional tokens", (r) => withTokens(r, 12.5), /not a whole number/],
    ["tokens as text", (r) => withTokens(r, "12"), /expected a number, got string/],
    ["cache reads above input", (r) => withTokens(r, 10), /exceed input tokens 10/],
    ["bad timestamp", (r) => ({ ...r, start_time: "yesterday" }), /start_time: not an ISO-8601 timestamp/],
    ["bad cost", (r) => ({ ...r, total_cost: "n/a" }), /total_cost: not a number/],
  ])("%s", async (_label, mutate, message) => {
    const raw = await rawLine(LS_RUNS, 2);
    expect(() => fromLangSmithRun(mutate(raw))).toThrow(message);
  });

  it("not an object", () => {
    expect(() => fromLangSmithRun([1, 2])).toThrow(/not a JSON object/);
  });
});

describe("traceContextFromLangSmithRun", () => {
  it("a root run hands down its tenant context; a child run has none to give", async () => {
    expect(traceContextFromLangSmithRun(await rawLine(LS_RUNS, 13))).toEqual({
      traceId: "019aa127-d62e-7f96-b972-8283de9371ce",
      attributes: { tenant_id: 10987, feature: "email-draft" },
      tags: [],
      userId: null,
      sessionId: null,
      name: "draft-email",
    });
    expect(traceContextFromLangSmithRun(await rawLine(LS_RUNS, 16))).toBeNull();
  });
});

function withTokens(raw: Record<string, unknown>, inputTokens: unknown): Record<string, unknown> {
  const extra = raw["extra"] as { metadata: Record<string, unknown> };
  const usage = extra.metadata["usage_metadata"] as Record<string, unknown>;
  return { ...raw, extra: { ...extra, metadata: { ...extra.metadata, usage_metadata: { ...usage, input_tokens: inputTokens } } } };
}
