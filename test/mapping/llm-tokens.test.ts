import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { idempotencyKey, type BillableEvent, type TraceRecord } from "../../src/model/index.js";
import { evaluateRecord, loadMappingSet, metricsOf, type MappingSet } from "../../src/mapping/index.js";
import { traceRecord, usage } from "./factory.js";

const MAPPINGS = fileURLToPath(new URL("../../mappings", import.meta.url));

let set: MappingSet;
beforeAll(async () => {
  set = await loadMappingSet(MAPPINGS);
});

const bill = (r: TraceRecord) => evaluateRecord(set, r);

/** Billed quantity per token type, e.g. { input: 700, output: 150 }. */
function byType(events: BillableEvent[]): Record<string, number> {
  return Object.fromEntries(events.map((e) => [String(e.properties.type), e.value]));
}

function skippedBy(r: TraceRecord): string {
  const { events, skips } = bill(r);
  expect(events).toEqual([]);
  expect(skips).toHaveLength(1);
  expect(skips[0]!.source_record_id).toBe(r.recordId);
  return skips[0]!.reason;
}

describe("shipped mapping llm-tokens", () => {
  it("is the only enabled mapping of the shipped set and emits llm_tokens; the others are checked but off", () => {
    expect(set.mappings.map((m) => m.name)).toEqual(["llm-tokens"]);
    expect(set.disabled?.map((m) => m.name)).toEqual(["llm-cost", "llm-requests"]);
    expect(metricsOf(set)).toEqual([{ metric: "llm_tokens", valueProperty: "value" }]);
    expect(set.mappings[0]!.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it("documents every rule in plain words", () => {
    for (const rule of set.mappings[0]!.rules) expect(rule.reason).toMatch(new RegExp(`^llm-tokens/${rule.name}: \\w.{20,}`));
  });

  it("bills uncached input plus cache writes, and output including reasoning", () => {
    const r = traceRecord({ usage: usage({ input: 1000, cacheRead: 300, cacheWrite: 200, output: 150, reasoning: 100 }) });
    const { events, skips } = bill(r);
    expect(skips).toEqual([]);
    expect(byType(events)).toEqual({ input: 700, output: 150 });
  });

  it("does not bill provider prompt-cache reads", () => {
    const { events } = bill(traceRecord({ usage: usage({ input: 500, cacheRead: 500, output: 40 }) }));
    expect(byType(events)).toEqual({ output: 40 });
  });

  it("bills cache writes as input", () => {
    const { events } = bill(traceRecord({ usage: usage({ input: 400, cacheWrite: 400, output: 1 }) }));
    expect(byType(events)).toEqual({ input: 400, output: 1 });
  });

  it("counts reasoning inside output, not on top of it", () => {
    const { events } = bill(traceRecord({ usage: usage({ input: 10, output: 300, reasoning: 250 }) }));
    expect(byType(events)).toEqual({ input: 10, output: 300 });
  });

  it("skips a response-cache hit: the model did not run", () => {
    const r = traceRecord({ cacheHit: true, cacheHitSignal: "extra.cached" });
    expect(skippedBy(r)).toMatch(/^llm-tokens\/no-cache-hits: /);
  });

  it.each(["error", "pending"] as const)("skips a call with status %s", (status) => {
    expect(skippedBy(traceRecord({ status, error: status === "error" ? "RateLimitError" : null }))).toMatch(/^llm-tokens\/success-only: /);
  });

  it("skips estimated token counts", () => {
    expect(skippedBy(traceRecord({ usageEstimated: true }))).toMatch(/^llm-tokens\/reported-usage-only: /);
  });

  it("skips a call without usage", () => {
    expect(skippedBy(traceRecord({ usage: null }))).toMatch(/^llm-tokens\/usage-required: /);
  });

  it("skips chain and root records even when they carry rolled-up usage", () => {
    const chain = traceRecord({ isModelCall: false, name: "RunnableSequence", parentId: null, modelRequested: null, modelExecuted: null });
    expect(skippedBy(chain)).toMatch(/^llm-tokens\/model-calls-only: /);
  });

  it("bills the requested model, not the fallback that executed", () => {
    const { events } = bill(traceRecord({ modelRequested: "gpt-4o", modelExecuted: "gpt-4o-mini" }));
    expect(events.map((e) => e.properties.model)).toEqual(["gpt-4o", "gpt-4o"]);
  });

  it("falls back to the executed model when no model was requested", () => {
    const { events } = bill(traceRecord({ modelRequested: null, modelExecuted: "claude-3-5-sonnet" }));
    expect(events.map((e) => e.properties.model)).toEqual(["claude-3-5-sonnet", "claude-3-5-sonnet"]);
  });

  it("leaves the model out when neither is known", () => {
    const { events } = bill(traceRecord({ modelRequested: null, modelExecuted: null }));
    expect(events).toHaveLength(2);
    for (const e of events) expect(e.properties).not.toHaveProperty("model");
  });

  it("bills tenant_id, as text when it is a number", () => {
    const { events } = bill(traceRecord({ attributes: { tenant_id: 10987, customer_id: "ignored" } }));
    expect(events.map((e) => e.customer)).toEqual(["10987", "10987"]);
  });

  it("falls back to customer_id when tenant_id is missing, null or empty", () => {
    const variants: TraceRecord["attributes"][] = [{ customer_id: "c-7" }, { tenant_id: null, customer_id: "c-7" }, { tenant_id: "", customer_id: "c-7" }];
    for (const attributes of variants) {
      expect(bill(traceRecord({ attributes })).events.map((e) => e.customer)).toEqual(["c-7", "c-7"]);
    }
  });

  it("skips a record with no customer instead of guessing one", () => {
    const reason = skippedBy(traceRecord({ attributes: { team: "x" }, userId: "u-1" }));
    expect(reason).toBe("llm-tokens: no customer: record.attributes.tenant_id, record.attributes.customer_id gave no value");
  });

  it("emits no event for a zero quantity", () => {
    const { events, skips } = bill(traceRecord({ usage: usage({ input: 12, output: 0 }) }));
    expect(skips).toEqual([]);
    expect(byType(events)).toEqual({ input: 12 });
  });

  it("carries feature when known and leaves it out otherwise", () => {
    expect(bill(traceRecord({ feature: "support-bot" })).events.map((e) => e.properties.feature)).toEqual(["support-bot", "support-bot"]);
    for (const e of bill(traceRecord({ feature: null })).events) expect(e.properties).toEqual({ model: "gpt-4o", type: e.properties.type });
  });

  it("builds complete events: usage time, source, mapping, value property", () => {
    const r = traceRecord({ recordId: "run-42", traceId: "trace-9", usage: usage({ input: 5, output: 3 }) });
    const [input] = bill(r).events;
    expect(input).toEqual({
      id: idempotencyKey({ platform: "langsmith", recordId: "run-42", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 }),
      customer: "acme",
      metric: "llm_tokens",
      value: 5,
      timestamp: "2025-03-01T10:00:02.500Z",
      properties: { model: "gpt-4o", type: "input" },
      source: { platform: "langsmith", record_id: "run-42", trace_id: "trace-9" },
      mapping: "llm-tokens",
      valueProperty: "value",
      mappingVersion: `llm-tokens@${set.mappings[0]!.version}`,
    });
  });

  it("uses the start time when the end time is missing, and skips a record with neither", () => {
    expect(bill(traceRecord({ endTime: null })).events[0]!.timestamp).toBe("2025-03-01T10:00:00.000Z");
    expect(skippedBy(traceRecord({ endTime: null, startTime: null }))).toMatch(/^llm-tokens: no usage time/);
  });

  it("skips, naming the event, when cache reads exceed input (inconsistent usage)", () => {
    expect(skippedBy(traceRecord({ usage: usage({ input: 10, cacheRead: 25 }) }))).toBe(
      "llm-tokens: metrics[llm_tokens].events[input].quantity `record.usage.input - record.usage.cacheRead - (params.cache_writes == 'input' ? 0 :record.usage.cacheWrite)` gave -15; a quantity cannot be negative",
    );
  });

  it("gives stable idempotency keys across loads and distinct keys per event", async () => {
    const again = await loadMappingSet(MAPPINGS);
    const r = traceRecord();
    const ids = bill(r).events.map((e) => e.id);
    expect(evaluateRecord(again, r).events.map((e) => e.id)).toEqual(ids);
    expect(new Set(ids).size).toBe(2);
    expect(bill(traceRecord({ recordId: "run-2" })).events.map((e) => e.id)).not.toContain(ids[0]);
  });

  it("bills one provider response once, however many records trace it (gateway + SDK mirror, cache replays)", () => {
    const sdk = traceRecord({ recordId: "run-7", responseId: "chatcmpl-abc" });
    const gateway = traceRecord({ platform: "langfuse", recordId: "time-10-00-00-000000_chatcmpl-abc", responseId: "chatcmpl-abc" });
    const other = traceRecord({ recordId: "run-8", responseId: "chatcmpl-xyz" });
    const ids = (r: ReturnType<typeof traceRecord>) => bill(r).events.map((e) => e.id);
    expect(ids(gateway)).toEqual(ids(sdk));
    expect(ids(other)).not.toContain(ids(sdk)[0]);
    expect(ids(sdk)[0]).toBe(idempotencyKey({ platform: "response", recordId: "chatcmpl-abc", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 }));
  });

  it("skips a LangChain Python cache replay (original usage, client cost 0)", () => {
    const r = traceRecord({ replaySignal: "usage_metadata.total_cost = 0 with tokens (LangChain Python LLM-cache replay)" });
    const out = bill(r);
    expect(out.events).toEqual([]);
    expect(out.skips[0]?.reason).toMatch(/^llm-tokens\/no-cache-replays: /);
  });

  it("marks a missing customer as a skip a later trace may undo", () => {
    const out = bill(traceRecord({ attributes: {} }));
    expect(out.skips).toHaveLength(1);
    expect(out.skips[0]?.code).toBe("no-customer");
    expect(bill(traceRecord({ status: "error" })).skips[0]?.code).toBeUndefined();
  });
});
