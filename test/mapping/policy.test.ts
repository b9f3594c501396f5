import { describe, expect, it } from "vitest";
import { compileMappingTexts, evaluateRecord, formatProblem, loadMappingSet, type MappingSet } from "../../src/mapping/index.js";
import { idempotencyKey, type BillableEvent, type TraceRecord } from "../../src/model/index.js";
import { traceRecord, usage } from "./factory.js";
import { MAPPINGS, shippedSet, shippedText, withParam } from "./shipped.js";

/** Billed quantity per token type, e.g. { input: 700, output: 150 }. */
const byType = (events: BillableEvent[]) => Object.fromEntries(events.map((e) => [String(e.properties.type), e.value]));
const tokens = (set: MappingSet, r: TraceRecord) => evaluateRecord(set, r);

describe("llm-tokens: prompt-cache writes are a switch (params.cache_writes)", () => {
  // 1000 input = 500 uncached + 300 cache reads + 200 cache writes; 150 output.
  const r = traceRecord({ usage: usage({ input: 1000, cacheRead: 300, cacheWrite: 200, output: 150 }) });

  it("input (the default): writes are billed as input tokens, reads never", async () => {
    const set = await loadMappingSet(MAPPINGS);
    expect(byType(tokens(set, r).events)).toEqual({ input: 700, output: 150 });
  });

  it("separate: writes are their own llm_tokens event with type cache_write", () => {
    const { events, skips } = tokens(withParam("llm-tokens", "cache_writes", "separate"), r);
    expect(skips).toEqual([]);
    expect(byType(events)).toEqual({ input: 500, output: 150, cache_write: 200 });
    const write = events.find((e) => e.properties.type === "cache_write")!;
    expect(write.metric).toBe("llm_tokens");
    expect(write.id).toBe(idempotencyKey({ platform: "langsmith", recordId: "run-1", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "cache_write", split: 0 }));
    // No cache writes, no cache_write event.
    expect(byType(tokens(withParam("llm-tokens", "cache_writes", "separate"), traceRecord({ usage: usage({ input: 80, output: 5 }) })).events)).toEqual({ input: 80, output: 5 });
  });

  it("none: writes are not billed at all", () => {
    expect(byType(tokens(withParam("llm-tokens", "cache_writes", "none"), r).events)).toEqual({ input: 500, output: 150 });
  });

  it("keeps the input event's id whatever the switch says (only its quantity changes)", async () => {
    const ids = (set: MappingSet) => tokens(set, r).events.filter((e) => e.properties.type === "input").map((e) => e.id);
    const shipped = ids(await loadMappingSet(MAPPINGS));
    expect(ids(withParam("llm-tokens", "cache_writes", "none"))).toEqual(shipped);
  });

  it("refuses a value outside one_of, at the value", () => {
    const text = shippedText("llm-tokens", [[["params", "cache_writes", "value"], "seperate"]]);
    const { set, problems } = compileMappingTexts([{ file: "llm-tokens.yaml", text }]);
    expect(set).toBeUndefined();
    expect(problems.map(formatProblem)).toEqual([expect.stringMatching(/^llm-tokens\.yaml:\d+:\d+ params\.cache_writes\.value: "seperate" is not one of "input", "separate", "none"$/)]);
    expect(problems[0]!.code).toBe("TB-MAP-004");
  });
});

describe("llm-tokens: requested vs executed model (params.billed_model)", () => {
  const fallback = traceRecord({ modelRequested: "gpt-4o", modelExecuted: "gpt-4o-mini" });

  it("requested (the default) names the model the application asked for", async () => {
    expect(tokens(await loadMappingSet(MAPPINGS), fallback).events.map((e) => e.properties.model)).toEqual(["gpt-4o", "gpt-4o"]);
  });

  it("executed names the model that served the call, else the requested one", () => {
    const set = withParam("llm-tokens", "billed_model", "executed");
    expect(tokens(set, fallback).events.map((e) => e.properties.model)).toEqual(["gpt-4o-mini", "gpt-4o-mini"]);
    expect(tokens(set, traceRecord({ modelRequested: "gpt-4o", modelExecuted: null })).events.map((e) => e.properties.model)).toEqual(["gpt-4o", "gpt-4o"]);
  });
});

describe("llm-tokens: reported counts, with an opt-in estimate (params.estimate_usage)", () => {
  // o200k_base: "Hello, world!" is 4 tokens, "The quick brown fox jumps over the lazy dog." 10.
  const noUsage = traceRecord({ usage: null, text: { input: "Hello, world!", output: "The quick brown fox jumps over the lazy dog." } });

  it("off (the default): a call without reported usage is skipped, and so are the platform's estimates", async () => {
    const set = await loadMappingSet(MAPPINGS);
    expect(tokens(set, noUsage).skips.map((s) => s.reason)).toEqual([expect.stringMatching(/^llm-tokens\/usage-required: /)]);
    expect(tokens(set, traceRecord({ usageEstimated: true })).skips.map((s) => s.reason)).toEqual([expect.stringMatching(/^llm-tokens\/reported-usage-only: /)]);
  });

  it("on: estimates input and output tokens from the text with gpt-tokenizer, marked estimated", () => {
    const set = withParam("llm-tokens", "estimate_usage", true);
    const { events, skips } = tokens(set, noUsage);
    expect(skips).toEqual([]);
    expect(byType(events)).toEqual({ input: 4, output: 10 });
    for (const e of events) {
      expect(e.estimated).toBe(true);
      expect(e.properties.estimated).toBe(true);
    }
    // The same call's ids: an estimate is still that call.
    expect(events[0]!.id).toBe(idempotencyKey({ platform: "langsmith", recordId: "run-1", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 }));
  });

  it("on: reported counts bill as they are, the platform's own estimates stay skipped, a call with no text too", () => {
    const set = withParam("llm-tokens", "estimate_usage", true);
    const reported = tokens(set, traceRecord({ text: { input: "ignored when usage is reported", output: null } })).events;
    expect(byType(reported)).toEqual({ input: 1000, output: 200 });
    expect(reported.some((e) => "estimated" in e || "estimated" in e.properties)).toBe(false);
    expect(tokens(set, traceRecord({ usageEstimated: true })).skips.map((s) => s.reason)).toEqual([expect.stringMatching(/^llm-tokens\/reported-usage-only: /)]);
    expect(tokens(set, traceRecord({ usage: null })).skips.map((s) => s.reason)).toEqual([expect.stringMatching(/^llm-tokens\/usage-required: /)]);
  });

  it("marks the platform's own estimates estimated when a mapping bills them", () => {
    const { set } = compileMappingTexts([
      { file: "m.yaml", text: ["name: m", "customer: record.attributes.tenant_id", "metrics:", "  - metric: t", "    events: [{key: k, quantity: record.usage.input}]"].join("\n") },
    ]);
    const [e] = evaluateRecord(set!, traceRecord({ usageEstimated: true, usage: usage({ input: 30 }) })).events;
    expect([e!.value, e!.estimated, e!.properties.estimated]).toEqual([30, true, true]);
  });

  it("on: a side without text counts 0 and emits nothing", () => {
    const set = withParam("llm-tokens", "estimate_usage", true);
    expect(byType(tokens(set, traceRecord({ usage: null, text: { input: "Hello, world!", output: null } })).events)).toEqual({ input: 4 });
  });

  it("refuses an estimate_usage that is not true/false", () => {
    const text = shippedText("llm-tokens", [[["params", "estimate_usage", "value"], "yes"]]);
    const { problems } = compileMappingTexts([{ file: "llm-tokens.yaml", text }]);
    expect(problems.map((p) => [p.code, p.message])).toEqual([["TB-MAP-025", expect.stringMatching(/^params\.estimate_usage must be true or false/)]]);
  });
});

describe("shared batched calls (split)", () => {
  const batch = (shares: { tenant: string; tokens: number }[], u = usage({ input: 1000, output: 100 })) =>
    traceRecord({ attributes: {}, usage: u, structured: { batch_shares: shares } });

  it("splits every quantity pro-rata with largest-remainder rounding: 1000 over 1/1/1 → 334/333/333", async () => {
    const set = await loadMappingSet(MAPPINGS);
    const { events, skips } = tokens(set, batch([{ tenant: "globex", tokens: 1 }, { tenant: "acme", tokens: 1 }, { tenant: "initech", tokens: 1 }]));
    expect(skips).toEqual([]);
    const got = events.map((e) => [e.customer, e.properties.type, e.value]);
    expect(got).toEqual([
      ["acme", "input", 334],
      ["globex", "input", 333],
      ["initech", "input", 333],
      ["acme", "output", 34],
      ["globex", "output", 33],
      ["initech", "output", 33],
    ]);
    for (const type of ["input", "output"]) expect(events.filter((e) => e.properties.type === type).reduce((a, e) => a + e.value, 0)).toBe(type === "input" ? 1000 : 100);
  });

  it("gives each share its own idempotency key: the share's position among the customers sorted by id", async () => {
    const set = await loadMappingSet(MAPPINGS);
    const { events } = tokens(set, batch([{ tenant: "globex", tokens: 700 }, { tenant: "acme", tokens: 300 }]));
    const key = (type: string, split: number) => idempotencyKey({ platform: "langsmith", recordId: "run-1", mapping: "llm-tokens", metric: "llm_tokens", discriminator: type, split });
    expect(events.map((e) => [e.customer, e.properties.type, e.value, e.id])).toEqual([
      ["acme", "input", 300, key("input", 0)],
      ["globex", "input", 700, key("input", 1)],
      ["acme", "output", 30, key("output", 0)],
      ["globex", "output", 70, key("output", 1)],
    ]);
    // The order the shares are listed in does not matter.
    const reordered = tokens(set, batch([{ tenant: "acme", tokens: 300 }, { tenant: "globex", tokens: 700 }])).events;
    expect(reordered.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it("emits nothing for a share of 0, and adds up a customer listed twice", async () => {
    const set = await loadMappingSet(MAPPINGS);
    const zero = tokens(set, batch([{ tenant: "acme", tokens: 1 }, { tenant: "globex", tokens: 0 }, { tenant: "initech", tokens: 1 }], usage({ input: 11, output: 1 }))).events;
    expect(zero.map((e) => [e.customer, e.properties.type, e.value])).toEqual([
      ["acme", "input", 6],
      ["initech", "input", 5],
      ["acme", "output", 1],
    ]);
    const twice = tokens(set, batch([{ tenant: "acme", tokens: 1 }, { tenant: "globex", tokens: 2 }, { tenant: "acme", tokens: 1 }], usage({ input: 100, output: 0 }))).events;
    expect(twice.map((e) => [e.customer, e.value])).toEqual([["acme", 50], ["globex", 50]]);
  });

  it("bills an unshared call (no list, or an empty one) to its customer as before", async () => {
    const set = await loadMappingSet(MAPPINGS);
    for (const r of [traceRecord(), traceRecord({ structured: { batch_shares: [] } }), traceRecord({ structured: { other: [1] } })]) {
      expect(tokens(set, r).events.map((e) => [e.customer, e.value])).toEqual([["acme", 1000], ["acme", 200]]);
    }
  });

  it("skips a malformed share list instead of billing the call to one customer", async () => {
    const set = await loadMappingSet(MAPPINGS);
    const reasons = (shares: unknown) => tokens(set, traceRecord({ structured: { batch_shares: shares as never } })).skips.map((s) => s.reason);
    expect(reasons([{ tenant: "acme" }])).toEqual([expect.stringMatching(/^llm-tokens: split\.shares `.*` reads a field this record does not have \(No such key: tokens\)/)]);
    expect(reasons([{ tenant: "acme", tokens: -1 }])).toEqual([expect.stringMatching(/share 1 \(acme\) has weight -1; weights are numbers ≥ 0$/)]);
    expect(reasons([{ tenant: "acme", tokens: 0 }])).toEqual([expect.stringMatching(/gave shares that all weigh 0$/)]);
    expect(reasons([{ tenant: "", tokens: 1 }])).toEqual([expect.stringMatching(/share 1 has an empty customer$/)]);
  });

  it("refuses to split a fractional quantity, naming the event", () => {
    const { set, problems } = compileMappingTexts([
      {
        file: "m.yaml",
        text: [
          "name: m",
          "customer: record.attributes.tenant_id",
          "split: {shares: \"[{'customer': 'a', 'weight': 1}, {'customer': 'b', 'weight': 2}]\"}",
          "metrics:",
          "  - metric: usd",
          "    events: [{key: cost, quantity: 'double(record.usage.input) / 3.0'}]",
        ].join("\n"),
      },
    ]);
    expect(problems).toEqual([]);
    expect(evaluateRecord(set!, traceRecord({ usage: usage({ input: 10 }) })).skips.map((s) => s.reason)).toEqual([
      expect.stringMatching(/^m\/split: cannot split metric 'usd' event 'cost': the quantity 3\.33\d* is not a whole number; shares are whole units/),
    ]);
  });

  it("does not let a quantity read the customer when the mapping splits", () => {
    const { problems } = compileMappingTexts([
      {
        file: "m.yaml",
        text: ["name: m", "customer: record.attributes.tenant_id", "split: {shares: '[]'}", "metrics:", "  - metric: x", "    events: [{key: k, quantity: 'customer.size()'}]"].join("\n"),
      },
    ]);
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/Unknown variable: customer \(a mapping with split computes quantities once per call/)]);
  });
});

describe("three mappings in one set: llm-tokens, llm-requests, llm-cost", () => {
  const all = () => shippedSet([{ name: "llm-tokens" }, { name: "llm-requests" }, { name: "llm-cost" }]);

  it("load together, each billing the same record on its own, with no two events sharing a key", () => {
    const set = all();
    const r = traceRecord({ feature: "support-bot", costTotal: 0.0123, usage: usage({ input: 1000, cacheRead: 200, output: 50 }) });
    const { events, skips } = evaluateRecord(set, r);
    expect(skips).toEqual([]);
    expect(events.map((e) => [e.mapping, e.metric, e.properties.type ?? null, e.value])).toEqual([
      ["llm-tokens", "llm_tokens", "input", 800],
      ["llm-tokens", "llm_tokens", "output", 50],
      ["llm-requests", "llm_requests", null, 1],
      ["llm-cost", "llm_cost_micros", null, 14760],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it("keep keys distinct across mappings for shared calls too", () => {
    const r = traceRecord({ attributes: {}, costTotal: 0.003, structured: { batch_shares: [{ tenant: "a", tokens: 1 }, { tenant: "b", tokens: 2 }] } });
    const { events } = evaluateRecord(all(), r);
    expect(events.map((e) => [e.metric, e.customer, e.value])).toEqual([
      ["llm_tokens", "a", 333],
      ["llm_tokens", "b", 667],
      ["llm_tokens", "a", 67],
      ["llm_tokens", "b", 133],
      // One request, for the largest share.
      ["llm_requests", "b", 1],
      // 0.003 × 1.2 = 3600 micro-dollars, 1200 / 2400.
      ["llm_cost_micros", "a", 1200],
      ["llm_cost_micros", "b", 2400],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it("llm-requests: one request per billable call, per feature; none for what the policy does not bill", () => {
    const set = shippedSet([{ name: "llm-requests" }]);
    const one = evaluateRecord(set, traceRecord({ feature: "search", usage: null })).events;
    expect(one.map((e) => [e.metric, e.value, e.properties])).toEqual([["llm_requests", 1, { feature: "search", model: "gpt-4o" }]]);
    for (const r of [traceRecord({ status: "error" }), traceRecord({ cacheHit: true }), traceRecord({ isModelCall: false })]) {
      expect(evaluateRecord(set, r).events).toEqual([]);
    }
  });

  it("llm-cost: cost × markup in micro-dollars, rounded half away from zero; skipped when the cost is unknown", () => {
    const set = shippedSet([{ name: "llm-cost" }]);
    const micros = (costTotal: number | null) => evaluateRecord(set, traceRecord({ costTotal })).events.map((e) => e.value);
    expect(micros(0.0123)).toEqual([14760]);
    expect(micros(1)).toEqual([1_200_000]);
    // 0.00000125 × 1.2 = 1.5 micro-dollars → 2.
    expect(micros(0.00000125)).toEqual([2]);
    // A call that cost 0 bills nothing.
    expect(micros(0)).toEqual([]);
    expect(evaluateRecord(set, traceRecord({ costTotal: null })).skips.map((s) => s.reason)).toEqual([expect.stringMatching(/^llm-cost\/cost-required: /)]);
    const atCost = shippedSet([{ name: "llm-cost", edits: [[["params", "markup", "value"], 1.5]] }]);
    expect(evaluateRecord(atCost, traceRecord({ costTotal: 0.01 })).events.map((e) => e.value)).toEqual([15000]);
  });
});

describe("mapping version", () => {
  const edited = (comment: string) => {
    const { set, problems } = compileMappingTexts([{ file: "llm-tokens.yaml", text: shippedText("llm-tokens") + `\n# ${comment}\n` }]);
    expect(problems).toEqual([]);
    return set!;
  };

  it("is stamped on every event as <mapping>@<content hash>, and changes with the file", async () => {
    const shipped = await loadMappingSet(MAPPINGS);
    const events = evaluateRecord(shipped, traceRecord()).events;
    expect(events.map((e) => e.mappingVersion)).toEqual([`llm-tokens@${shipped.mappings[0]!.version}`, `llm-tokens@${shipped.mappings[0]!.version}`]);
    expect(evaluateRecord(edited("a policy edit"), traceRecord()).events[0]!.mappingVersion).not.toBe(events[0]!.mappingVersion);
  });

  it("never enters the idempotency key: an edited policy does not re-bill delivered events", async () => {
    const ids = (set: MappingSet) => evaluateRecord(set, traceRecord()).events.map((e) => e.id);
    expect(ids(edited("one"))).toEqual(ids(await loadMappingSet(MAPPINGS)));
    expect(ids(edited("two"))).toEqual(ids(edited("one")));
  });
});
