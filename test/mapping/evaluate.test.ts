import { describe, expect, it } from "vitest";
import { compileMappingTexts, evaluateRecord, formatProblem, type MappingSet } from "../../src/mapping/index.js";
import { traceRecord, usage } from "./factory.js";

/** Compiles inline mappings (one text each); fails the test with the problems if any. */
function setOf(...texts: string[][]): MappingSet {
  const { set, problems } = compileMappingTexts(texts.map((lines, i) => ({ file: `m${i}.yaml`, text: lines.join("\n") })));
  if (!set) throw new Error(problems.map(formatProblem).join("\n"));
  return set;
}

const tokens = (quantity: string, extra: string[] = []) => [
  "name: t",
  "customer: [record.attributes.tenant_id]",
  "metrics:",
  "  - metric: m",
  ...extra,
  "    events:",
  "      - key: k",
  `        quantity: ${JSON.stringify(quantity)}`,
];

describe("evaluateRecord", () => {
  it("turns a CEL runtime error into a skip naming the expression and the error", () => {
    const set = setOf(tokens("int(record.attributes.plan) * 10"));
    const r = traceRecord({ recordId: "r-err", attributes: { tenant_id: "acme", plan: "gold" } });
    const out = evaluateRecord(set, r);
    expect(out.events).toEqual([]);
    expect(out.skips).toHaveLength(1);
    expect(out.skips[0]!.source_record_id).toBe("r-err");
    expect(out.skips[0]!.reason).toMatch(/^t: metrics\[m\]\.events\[k\]\.quantity `int\(record\.attributes\.plan\) \* 10` failed: .+/);
  });

  it("skips when a quantity reads a field the record does not have", () => {
    const set = setOf(tokens("record.usage.output"));
    expect(evaluateRecord(set, traceRecord({ usage: null })).skips.map((s) => s.reason)).toEqual([
      "t: metrics[m].events[k].quantity `record.usage.output` reads a field this record does not have",
    ]);
  });

  it("skips when a rule cannot be decided rather than billing", () => {
    const set = setOf([...tokens("1"), "rules:", "  - name: internal", "    skip_when: record.attributes.internal == true"]);
    const r = traceRecord({ attributes: { tenant_id: "acme" } });
    expect(evaluateRecord(set, r).skips.map((s) => s.reason)).toEqual([
      "t: rules[internal].skip_when `record.attributes.internal == true` reads a field this record does not have",
    ]);
    expect(evaluateRecord(set, traceRecord({ attributes: { tenant_id: "acme", internal: false } })).events).toHaveLength(1);
    expect(evaluateRecord(set, traceRecord({ attributes: { tenant_id: "acme", internal: true } })).skips[0]!.reason).toBe("t/internal: internal");
  });

  it("skips a non-numeric, non-finite or negative quantity with the event's name", () => {
    const attrs = (v: string | number) => ({ attributes: { tenant_id: "acme", q: v } });
    const reasons = (quantity: string, r = traceRecord()) => evaluateRecord(setOf(tokens(quantity)), r).skips.map((s) => s.reason);
    expect(reasons("record.attributes.q", traceRecord(attrs("12")))).toEqual([
      't: metrics[m].events[k].quantity `record.attributes.q` gave "12", not a number',
    ]);
    expect(reasons("double(record.attributes.q)", traceRecord(attrs("NaN")))[0]).toMatch(/events\[k\]\.quantity .* failed: gave NaN/);
    expect(reasons("record.usage.output - 500", traceRecord({ usage: usage({ output: 200 }) }))).toEqual([
      "t: metrics[m].events[k].quantity `record.usage.output - 500` gave -300; a quantity cannot be negative",
    ]);
  });

  it("bills fractional quantities computed in double arithmetic", () => {
    const set = setOf(tokens("double(record.usage.output) / 1000.0"));
    expect(evaluateRecord(set, traceRecord({ usage: usage({ output: 1500 }) })).events.map((e) => e.value)).toEqual([1.5]);
  });

  it("drops null and absent properties, lets event properties override metric ones, keeps scalar types", () => {
    const set = setOf([
      "name: t",
      "customer: record.attributes.tenant_id",
      "metrics:",
      "  - metric: m",
      "    properties:",
      "      kind: \"'metric-level'\"",
      "      feature: record.feature",
      "      region: record.attributes.region",
      "      cached: record.cacheHit",
      "      reasoning: record.usage.reasoning",
      "      missing: record.attributes.nothing_here",
      "    events:",
      "      - key: k",
      "        quantity: 1",
      "        properties:",
      "          kind: \"'event-level'\"",
    ]);
    const r = traceRecord({ feature: null, attributes: { tenant_id: "acme", region: null }, usage: usage({ reasoning: 7 }) });
    expect(evaluateRecord(set, r).events[0]!.properties).toEqual({ kind: "event-level", cached: false, reasoning: 7 });
  });

  it("supports CEL optional access for fields that may be missing", () => {
    const set = setOf(tokens("1", ["    properties:", "      model: record.?modelRequested.orValue(record.modelExecuted)", "      plan: record.attributes.?plan"]));
    const r = traceRecord({ modelRequested: null, modelExecuted: "gpt-4o-mini", attributes: { tenant_id: "acme" } });
    expect(evaluateRecord(set, r).events[0]!.properties).toEqual({ model: "gpt-4o-mini" });
    const withPlan = traceRecord({ attributes: { tenant_id: "acme", plan: "pro" } });
    expect(evaluateRecord(set, withPlan).events[0]!.properties).toEqual({ model: "gpt-4o", plan: "pro" });
  });

  it("gives a subscription when the mapping defines one, using the resolved customer", () => {
    const set = setOf([...tokens("1"), "subscription: \"'sub_' + customer\""]);
    const [event] = evaluateRecord(set, traceRecord({ attributes: { tenant_id: 10987 } })).events;
    expect(event).toMatchObject({ customer: "10987", subscription: "sub_10987" });
  });

  it("applies every mapping of the set on its own", () => {
    const billing = tokens("record.usage.output");
    const calls = ["name: calls", "customer: record.attributes.tenant_id", "rules:", "  - {name: success-only, skip_when: \"record.status != 'success'\"}", "metrics:", "  - metric: calls", "    events:", "      - {key: call, quantity: 1}"];
    const set = setOf(billing, calls);
    const ok = evaluateRecord(set, traceRecord({ usage: usage({ output: 30 }) }));
    expect(ok.events.map((e) => [e.mapping, e.metric, e.value])).toEqual([["t", "m", 30], ["calls", "calls", 1]]);
    expect(new Set(ok.events.map((e) => e.id)).size).toBe(2);
    const failed = evaluateRecord(set, traceRecord({ status: "error", usage: usage({ output: 30 }) }));
    expect(failed.events.map((e) => e.mapping)).toEqual(["t"]);
    expect(failed.skips.map((s) => s.reason)).toEqual(["calls/success-only: success-only"]);
  });

  it("marks events from estimated usage when the mapping chose to bill it", () => {
    const set = setOf(tokens("record.usage.output"));
    expect(evaluateRecord(set, traceRecord({ usageEstimated: true })).events[0]!.estimated).toBe(true);
    expect(evaluateRecord(set, traceRecord()).events[0]).not.toHaveProperty("estimated");
  });

  it("skips a record whose token counts are not whole numbers, in every mapping", () => {
    const set = setOf(tokens("1"), [...tokens("1").map((l) => l.replace("name: t", "name: u"))]);
    expect(evaluateRecord(set, traceRecord({ usage: usage({ input: 12.5 }) })).skips.map((s) => s.reason)).toEqual([
      "t: usage.input is 12.5, not a whole number of tokens",
      "u: usage.input is 12.5, not a whole number of tokens",
    ]);
  });

  it("does not let a customer expression turn true/false into an id", () => {
    const set = setOf(tokens("1").map((l) => (l.startsWith("customer") ? "customer: [record.attributes.flag, record.attributes.tenant_id]" : l)));
    expect(evaluateRecord(set, traceRecord({ attributes: { flag: true, tenant_id: "acme" } })).skips.map((s) => s.reason)).toEqual([
      "t: customer[0] `record.attributes.flag` gave true, not an id",
    ]);
  });

  it("does not modify the record", () => {
    const r = traceRecord({ attributes: { tenant_id: 1, gone: null } });
    const before = structuredClone(r);
    evaluateRecord(setOf(tokens("record.usage.input")), r);
    expect(r).toEqual(before);
  });
});
