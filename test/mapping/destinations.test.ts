import { describe, expect, it } from "vitest";
import { compileMappingTexts, evaluateRecord, formatProblem, metricsOf } from "../../src/mapping/index.js";
import { traceRecord } from "./factory.js";

const mapping = (name: string, metric: string, extra: string[]) => ({
  file: `${name}.yaml`,
  text: [
    `name: ${name}`,
    "customer: record.attributes.tenant_id",
    "metrics:",
    `  - metric: ${metric}`,
    ...extra,
    "    properties: {model: record.modelRequested}",
    "    events: [{key: k, quantity: record.usage.input}]",
  ].join("\n"),
});

describe("per-destination names", () => {
  it("travel on every event of the metric, and in metricsOf for read-back", () => {
    const { set, problems } = compileMappingTexts([
      mapping("a", "llm_tokens", ["    lago: {code: ai_tokens, properties: {model: model_name}}", "    openmeter: {event_type: ai.tokens}"]),
    ]);
    expect(problems.map(formatProblem)).toEqual([]);
    const [event] = evaluateRecord(set!, traceRecord()).events;
    expect(event!.destinations).toEqual({ lago: { code: "ai_tokens", properties: { model: "model_name" } }, openmeter: { type: "ai.tokens" } });
    expect(JSON.parse(JSON.stringify(event))).toEqual(event);
    expect(metricsOf(set!)).toEqual([{ metric: "llm_tokens", valueProperty: "value", destinations: event!.destinations }]);
  });

  it("are absent when a metric uses our names", () => {
    const { set } = compileMappingTexts([mapping("a", "llm_tokens", [])]);
    expect(evaluateRecord(set!, traceRecord()).events[0]).not.toHaveProperty("destinations");
  });

  it("must not make two properties one on the wire", () => {
    const { problems } = compileMappingTexts([mapping("a", "t", ["    lago: {properties: {model: value}}"])]);
    expect(problems.map((p) => [p.code, p.message])).toEqual([["TB-MAP-024", "'model' → 'value' meets property 'value', which already has that name at lago"]]);
  });

  it("must agree across the mappings that emit a metric, and two metrics must not meet under one destination name", () => {
    const differ = compileMappingTexts([mapping("a", "t", ["    lago: {code: x}"]), mapping("b", "t", [])]).problems;
    expect(differ.map((p) => [p.file, p.code, p.message])).toEqual([["b.yaml", "TB-MAP-023", expect.stringMatching(/^metric 't' has other lago\/openmeter names here than at a\.yaml:4:13/)]]);
    const meet = compileMappingTexts([mapping("a", "t", ["    openmeter: {event_type: u}"]), mapping("b", "u", [])]).problems;
    expect(meet.map((p) => [p.file, p.code, p.message])).toEqual([
      ["b.yaml", "TB-MAP-023", expect.stringMatching(/^metric 'u' is sent to openmeter as 'u', like metric 't' \(a\.yaml:4:13\); their quantities would be summed together$/)],
    ]);
  });
});
