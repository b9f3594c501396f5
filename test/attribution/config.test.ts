import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AttributionConfigError, loadAttributionConfig, parseAttributionConfig } from "../../src/attribution/index.js";
import { formatProblem } from "../../src/mapping/index.js";
import { UserError } from "../../src/model/index.js";

/** Staged here until the mapping loader skips `attribution.yaml`; then it moves to mappings/attribution.yaml. */
const SHIPPED = fileURLToPath(new URL("../../mappings/attribution.yaml", import.meta.url));

/** Problems as `file:line:col message`. */
function problems(lines: string[]): string[] {
  const r = parseAttributionConfig("attribution.yaml", lines.join("\n") + "\n");
  expect(r.config).toBeUndefined();
  return r.problems.map(formatProblem);
}

describe("attribution config", () => {
  it("fills every default from an empty map: direct attribution, day windows, llm_tokens", () => {
    const { config, problems: p } = parseAttributionConfig("a.yaml", "{}\n");
    expect(p).toEqual([]);
    expect(config).toMatchObject({
      file: "a.yaml",
      name: "attribution",
      model: "direct",
      window: "day",
      metrics: ["llm_tokens"],
      activity: "quantity",
      weights: {},
      defaultWeight: 1,
      unattributed: { skipCodes: ["no-customer"], requireTraceContext: true, customers: [] },
      tenants: { from: "active", list: [], exclude: [] },
    });
    expect(config!.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it("reads a full config", () => {
    const { config } = parseAttributionConfig("a.yaml", [
      "name: shared-spend",
      "model: weighted",
      "window: hour",
      "metrics: [llm_tokens, llm_cost]",
      "activity: calls",
      "weights: { gpt-4o: 2, gpt-4o-mini: 0.5 }",
      "default_weight: 1.25",
      "unattributed: { skip_codes: [no-customer], require_trace_context: false, customers: [internal] }",
      "tenants: { from: list, list: [acme, globex], exclude: [] }",
    ].join("\n"));
    expect(config).toMatchObject({
      name: "shared-spend", model: "weighted", window: "hour", metrics: ["llm_tokens", "llm_cost"], activity: "calls",
      weights: { "gpt-4o": 2, "gpt-4o-mini": 0.5 }, defaultWeight: 1.25,
      unattributed: { skipCodes: ["no-customer"], requireTraceContext: false, customers: ["internal"] },
      tenants: { from: "list", list: ["acme", "globex"], exclude: [] },
    });
  });

  it("the shipped attribution.yaml is valid and keeps direct attribution", async () => {
    const config = await loadAttributionConfig(SHIPPED);
    expect(config.model).toBe("direct");
    expect(config.weights).toEqual({ "gpt-4o": 2, "gpt-4o-mini": 0.5 });
    expect(config.defaultWeight).toBe(1);
  });

  it("points at unknown keys, with a suggestion", () => {
    expect(problems(["model: weighted", "windw: day", "tenants:", "  frm: active"])).toEqual([
      "attribution.yaml:2:1 unknown key 'windw' (did you mean 'window'?); allowed here: name, description, model, window, metrics, activity, weights, default_weight, unattributed, tenants",
      "attribution.yaml:4:3 tenants: unknown key 'frm' (did you mean 'from'?); allowed here: from, list, exclude",
    ]);
  });

  it("points at values outside their choices and of the wrong type", () => {
    expect(problems(["model: wieghted", "window: week", "metrics: llm_tokens", "unattributed:", "  skip_codes: [no-customers]", "  require_trace_context: yes please"])).toEqual([
      "attribution.yaml:1:8 model: must be one of direct, activity, weighted, got text \"wieghted\" (did you mean 'weighted'?)",
      "attribution.yaml:2:9 window: must be one of day, hour, got text \"week\"",
      "attribution.yaml:3:10 metrics: expected a list, got text \"llm_tokens\"",
      "attribution.yaml:5:16 unattributed.skip_codes.0: must be one of no-customer, got text \"no-customers\" (did you mean 'no-customer'?)",
      "attribution.yaml:6:26 unattributed.require_trace_context: expected true or false, got text \"yes please\"",
    ]);
  });

  it("checks weights: a number, not negative, at most 6 decimals", () => {
    expect(problems(["model: weighted", "weights:", "  gpt-4o: two", "  gpt-4o-mini: -0.5", "  o1: 0.1234567", "default_weight: -1"])).toEqual([
      "attribution.yaml:3:11 weights.gpt-4o: expected a number, got text \"two\"",
    ]);
    expect(problems(["model: weighted", "weights:", "  gpt-4o-mini: -0.5", "  o1: 0.1234567", "default_weight: -1"])).toEqual([
      "attribution.yaml:3:16 weights.gpt-4o-mini: a weight is a number of 0 or more, got -0.5",
      "attribution.yaml:4:7 weights.o1: at most 6 decimals, got 0.1234567",
      "attribution.yaml:5:17 default_weight: a weight is a number of 0 or more, got -1",
    ]);
  });

  it("checks names, duplicates and the tenant list", () => {
    expect(problems(["name: Shared Spend", "metrics: []"])).toEqual([
      "attribution.yaml:1:7 name: lower-case letters, digits, '-' and '_', starting with a letter or digit",
      "attribution.yaml:2:10 metrics: list at least one metric",
    ]);
    expect(problems([
      "metrics: [llm_tokens, llm_tokens]",
      "unattributed:",
      "  customers: [internal]",
      "tenants:",
      "  from: list",
      "  list: [acme, internal]",
    ])).toEqual([
      "attribution.yaml:1:23 metrics: 'llm_tokens' is listed twice",
      "attribution.yaml:6:16 tenants.list: 'internal' is also in unattributed.customers; shared spend cannot be allocated back to it",
    ]);
    expect(problems(["tenants:", "  from: list"])).toEqual(["attribution.yaml:2:9 tenants: from: list needs a non-empty 'list' of tenant ids"]);
    expect(problems(["tenants:", "  list: [acme]"])).toEqual(["attribution.yaml:2:3 tenants.list: only read with 'from: list' (tenants are taken from activity here)"]);
  });

  it("reports YAML syntax errors, an empty file and a file that is not a map", () => {
    expect(problems(["model: weighted", "weights: [", "window: day"])[0]).toMatch(/^attribution\.yaml:\d+:\d+ YAML: /);
    expect(problems([""])).toEqual(["attribution.yaml:1:1 the file is empty; expected an attribution config (model, window, metrics, weights, …)"]);
    expect(problems(["- weighted"])).toEqual(["attribution.yaml:1:1 expected a map (key: value lines), got a list"]);
  });
});

describe("loadAttributionConfig", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tracebill-attribution-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the defaults for a missing optional file, and a positioned error otherwise", async () => {
    const missing = join(dir, "attribution.yaml");
    expect((await loadAttributionConfig(missing, { optional: true })).model).toBe("direct");
    await expect(loadAttributionConfig(missing)).rejects.toThrow(AttributionConfigError);
    await writeFile(missing, "model: weighted\nwindow: week\n");
    const err = await loadAttributionConfig(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as AttributionConfigError).message).toBe(`1 problem in the attribution config:\n${missing}:2:9 window: must be one of day, hour, got text "week"`);
  });
});
