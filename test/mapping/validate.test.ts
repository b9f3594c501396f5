import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { metersCommand, validateCommand } from "../../src/cli/commands/mappings.js";
import { compileMappingTexts, formatCaret, formatCompact, metricsOf, PROBLEM_KINDS, validateMappingPath, type MappingProblem } from "../../src/mapping/index.js";
import { MAPPINGS } from "./shipped.js";

const base = (extra: { rules?: string[]; params?: string[]; quantity?: string; customer?: string; metric?: string[] } = {}) => [
  "name: m",
  ...(extra.params ? ["params:", ...extra.params] : []),
  `customer: ${extra.customer ?? "record.attributes.tenant_id"}`,
  ...(extra.rules ? ["rules:", ...extra.rules] : []),
  "metrics:",
  "  - metric: tokens",
  ...(extra.metric ?? []),
  "    events:",
  "      - key: input",
  `        quantity: ${extra.quantity ?? "record.usage.input"}`,
];

/** [line:col, code, kind, severity] of each problem of one inline mapping. */
function check(lines: string[]): { set: boolean; problems: [string, string | undefined, string | undefined, string | undefined][]; raw: MappingProblem[] } {
  const { set, problems } = compileMappingTexts([{ file: "m.yaml", text: lines.join("\n") }]);
  return { set: set !== undefined, problems: problems.map((p) => [`${p.line}:${p.col}`, p.code, p.kind, p.severity]), raw: problems };
}

describe("problem codes", () => {
  it("are stable, unique and documented", () => {
    const codes = Object.values(PROBLEM_KINDS).map((k) => k.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [kind, k] of Object.entries(PROBLEM_KINDS)) {
      expect(k.code).toMatch(k.severity === "error" ? /^TB-MAP-0\d\d$/ : /^TB-MAP-1\d\d$/);
      expect(kind).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(k.summary.length).toBeGreaterThan(10);
    }
    expect(PROBLEM_KINDS["unknown-key"].code).toBe("TB-MAP-001");
  });

  it("are set on every error the loader reports", () => {
    const cases: [string[], string][] = [
      [[...base(), "    bogus: 1"], "TB-MAP-001"],
      [["name: m", "metrics: [{metric: t, events: [{key: k, quantity: 1}]}]"], "TB-MAP-002"],
      [["name: m", "customer: record.attributes.tenant_id", "rules: 5", "metrics: [{metric: t, events: [{key: k, quantity: 1}]}]"], "TB-MAP-003"],
      [["name: 'has space'", "customer: record.attributes.tenant_id", "metrics: [{metric: t, events: [{key: k, quantity: 1}]}]"], "TB-MAP-004"],
      [["name: [unclosed"], "TB-MAP-005"],
      [base({ quantity: "record.usage.input +" }), "TB-MAP-010"],
      [base({ quantity: "record.usge.input" }), "TB-MAP-011"],
      [base({ quantity: "record.name" }), "TB-MAP-012"],
      [base({ rules: ["  - {name: r, skip_when: record.cacheHit}", "  - {name: r, skip_when: record.cacheHit}"] }), "TB-MAP-020"],
      [[...base(), "      - key: input", "        quantity: 1"], "TB-MAP-021"],
      [base({ metric: ["    properties: {mapping_version: \"'x'\"}"] }), "TB-MAP-024"],
    ];
    for (const [lines, code] of cases) {
      const { set, problems } = check(lines);
      expect(set, lines.join("\n")).toBe(false);
      expect(problems.map((p) => p[1]), lines.join("\n")).toContain(code);
      expect(problems.every(([, c, , severity]) => c !== undefined && severity === "error"), lines.join("\n")).toBe(true);
    }
  });
});

describe("warnings: suspicious rules that still load", () => {
  it("a rule that skips everything (and so a metric that can never fire)", () => {
    const { set, problems, raw } = check(base({ rules: ["  - name: off", "    skip_when: true"] }));
    expect(set).toBe(true);
    expect(problems).toEqual([["5:16", "TB-MAP-101", "skips-everything", "warning"]]);
    expect(raw[0]!.message).toBe("rule 'off' skips every record, so 'tokens' can never fire from this mapping");
  });

  it("a rule that never matches", () => {
    expect(check(base({ rules: ["  - {name: never, skip_when: 1 > 2}"] })).problems).toEqual([["4:30", "TB-MAP-102", "never-skips", "warning"]]);
  });

  it("a quantity that is always 0", () => {
    const { problems, raw } = check(base({ quantity: "0" }));
    expect(problems).toEqual([["7:19", "TB-MAP-103", "zero-quantity", "warning"]]);
    expect(raw[0]!.message).toBe("the quantity of event 'input' is always 0, so it never fires; metric 'tokens' can never fire");
  });

  it("a quantity that is 0 because of a param", () => {
    const { problems } = check(base({ params: ["  rate: {value: 0}"], quantity: "params.rate * 10" }));
    expect(problems).toEqual([["9:19", "TB-MAP-103", "zero-quantity", "warning"]]);
  });

  it("one constant customer for every record", () => {
    const { problems, raw } = check(base({ customer: "\"'acme'\"" }));
    expect(problems).toEqual([["2:11", "TB-MAP-104", "constant-customer", "warning"]]);
    expect(raw[0]!.message).toMatch(/^every record is billed to the same customer 'acme'/);
  });

  it("a param no expression reads, and a comparison with a value the param cannot have", () => {
    const { problems, raw } = check(
      base({
        params: ["  unused: {value: 1}", "  mode: {value: a, one_of: [a, b]}"],
        quantity: "\"params.mode == 'c' ? 0 : record.usage.input\"",
      }),
    );
    expect(problems).toEqual([
      ["3:3", "TB-MAP-105", "unused-param", "warning"],
      ["10:35", "TB-MAP-106", "param-value-typo", "warning"],
    ]);
    expect(raw[1]!.message).toBe(`metrics[tokens].events[input].quantity: params.mode is compared with "c", which is not one of "a", "b"; that comparison never holds`);
  });

  it("a destination rename of a property the metric does not have", () => {
    const { set, problems, raw } = check(base({ metric: ["    openmeter: {properties: {modl: model_name}}"] }));
    expect(set).toBe(true);
    expect(problems).toEqual([["5:30", "TB-MAP-107", "unused-rename", "warning"]]);
    expect(raw[0]!.message).toBe("metric 'tokens' has no property 'modl' to rename; its properties: value, mapping_version, estimated");
  });

  it("none for the shipped set", async () => {
    expect(await validateMappingPath(MAPPINGS)).toEqual([]);
  });
});

describe("enabled: false", () => {
  const file = (name: string, metric: string, enabled: boolean) => ({
    file: `${name}.yaml`,
    text: [`name: ${name}`, `enabled: ${enabled}`, "customer: record.attributes.tenant_id", "metrics:", `  - metric: ${metric}`, "    events: [{key: k, quantity: 1}]"].join("\n"),
  });

  it("keeps a mapping in the set's checks but out of billing and of the metrics expected at destinations", () => {
    const { set, problems } = compileMappingTexts([file("on", "a", true), file("off", "b", false)]);
    expect(problems).toEqual([]);
    expect(set!.mappings.map((m) => m.name)).toEqual(["on"]);
    expect(set!.disabled!.map((m) => m.name)).toEqual(["off"]);
    expect(metricsOf(set!).map((m) => m.metric)).toEqual(["a"]);
    // Still checked against the set: a name clash is an error even while off.
    expect(compileMappingTexts([file("on", "a", true), file("on", "b", false)]).problems.map((p) => p.kind)).toEqual(["duplicate-mapping"]);
  });

  it("refuses a set where every mapping is off", () => {
    const { set, problems } = compileMappingTexts([file("off", "b", false)]);
    expect(set).toBeUndefined();
    expect(problems.map((p) => [p.line, p.message])).toEqual([[2, "every mapping of the set has enabled: false, so nothing would be billed"]]);
  });
});

describe("rendering", () => {
  const p: MappingProblem = { file: "m.yaml", line: 3, col: 5, message: "rules[r]: unknown key 'skip_whn'", code: "TB-MAP-001", kind: "unknown-key", severity: "error" };
  const text = "name: m\nrules:\n  - skip_whn: x\n";

  it("compact: file:line:col severity code kind: message", () => {
    expect(formatCompact(p)).toBe("m.yaml:3:5 error TB-MAP-001 unknown-key: rules[r]: unknown key 'skip_whn'");
  });

  it("caret: the source line with a marker under the column", () => {
    expect(formatCaret(p, text)).toBe(
      ["error TB-MAP-001 unknown-key: rules[r]: unknown key 'skip_whn'", "  --> m.yaml:3:5", "  |", "3 |   - skip_whn: x", "  |     ^"].join("\n"),
    );
    expect(formatCaret({ ...p, line: 12 }, text)).toBe("error TB-MAP-001 unknown-key: rules[r]: unknown key 'skip_whn'\n  --> m.yaml:12:5");
    expect(formatCaret(p, text, { color: true })).toContain("\u001b[1;31merror\u001b[0m");
  });
});

class Capture extends Writable {
  text = "";
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

describe("tracebill mappings validate / meters (command functions)", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tb-validate-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (opts: Parameters<typeof validateCommand>[1], tty = false) => {
    const out = new Capture();
    const err = new Capture(tty);
    const code = await validateCommand(dir, opts, out, err);
    return { code, out: out.text.replaceAll(`${dir}/`, ""), err: err.text.replaceAll(`${dir}/`, "") };
  };

  it("errors: compact lines off a terminal, exit 1", async () => {
    await writeFile(join(dir, "a.yaml"), [...base(), "    bogus: 1", ""].join("\n"));
    const r = await run({});
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "a.yaml:8:5 error TB-MAP-001 unknown-key: metrics[tokens]: unknown key 'bogus'; allowed here: metric, description, value_property, lago, openmeter, properties, events\n1 error found.\n",
    );
  });

  it("errors: a caret view on a terminal", async () => {
    await writeFile(join(dir, "a.yaml"), [...base(), "    bogus: 1", ""].join("\n"));
    const r = await run({}, true);
    expect(r.code).toBe(1);
    // eslint-disable-next-line no-control-regex -- strips the terminal colours
    expect(r.err.replace(/\u001b\[[\d;]*m/g, "")).toBe(
      [
        "error TB-MAP-001 unknown-key: metrics[tokens]: unknown key 'bogus'; allowed here: metric, description, value_property, lago, openmeter, properties, events",
        "  --> a.yaml:8:5",
        "  |",
        "8 |     bogus: 1",
        "  |     ^",
        "1 error found.",
        "",
      ].join("\n"),
    );
  });

  it("warnings alone exit 0, or 1 with --deny-warnings; --format json reports them as data", async () => {
    await writeFile(join(dir, "a.yaml"), base({ quantity: "0" }).join("\n"));
    const ok = await run({ format: "compact" });
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/^a\.yaml:7:19 warning TB-MAP-103 zero-quantity: the quantity of event 'input' is always 0/);
    expect(ok.out).toBe(`${dir}: mappings are valid (1 warning).\n`.replaceAll(`${dir}/`, ""));
    const denied = await run({ format: "compact", denyWarnings: true });
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/\n1 warning found \(--deny-warnings\)\.\n$/);
    const json = await run({ format: "json" });
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.out) as { errors: number; warnings: number; problems: MappingProblem[] };
    expect(doc.errors).toBe(0);
    expect(doc.warnings).toBe(1);
    expect(doc.problems[0]).toMatchObject({ line: 7, col: 19, severity: "warning", code: "TB-MAP-103", kind: "zero-quantity" });
  });

  it("a clean set: a line on stdout, exit 0", async () => {
    const out = new Capture();
    const err = new Capture();
    expect(await validateCommand(MAPPINGS, {}, out, err)).toBe(0);
    expect(out.text).toBe(`${MAPPINGS}: mappings are valid.\n`);
    expect(err.text).toBe("");
  });

  it("meters: the Lago billable metrics and OpenMeter meters the set expects, under each destination's names", async () => {
    await writeFile(
      join(dir, "a.yaml"),
      [
        "name: a",
        "customer: record.attributes.tenant_id",
        "metrics:",
        "  - metric: llm_tokens",
        "    description: Tokens.",
        "    value_property: tokens",
        "    lago: {code: ai_tokens, properties: {model: model_name}}",
        "    openmeter: {event_type: ai.tokens, properties: {tokens: count}}",
        "    properties: {model: record.modelRequested}",
        "    events:",
        "      - {key: input, quantity: record.usage.input, properties: {type: \"'input'\"}}",
        "      - {key: output, quantity: record.usage.output, properties: {type: \"'output'\"}}",
      ].join("\n"),
    );
    await writeFile(join(dir, "b.yaml"), ["name: b", "enabled: false", "customer: record.attributes.tenant_id", "metrics:", "  - metric: calls", "    events: [{key: c, quantity: 1}]"].join("\n"));
    const json = new Capture();
    expect(await metersCommand(dir, { format: "json" }, json)).toBe(0);
    expect(JSON.parse(json.text)).toEqual({
      lago: {
        billable_metrics: [
          {
            billable_metric: {
              name: "llm_tokens",
              code: "ai_tokens",
              description: "Tokens.",
              aggregation_type: "sum_agg",
              field_name: "tokens",
              recurring: false,
              filters: [{ key: "type", values: ["input", "output"] }],
            },
            pricing_group_keys: ["model_name"],
          },
        ],
      },
      openmeter: {
        meters: [
          {
            slug: "ai_tokens",
            name: "llm_tokens",
            description: "Tokens.",
            eventType: "ai.tokens",
            aggregation: "SUM",
            valueProperty: "$.count",
            groupBy: { model: "$.model", type: "$.type" },
          },
        ],
      },
    });
    const yaml = new Capture();
    await metersCommand(dir, {}, yaml);
    expect(yaml.text).toContain("# Not included (enabled: false): b; --all lists them too.\n");
    expect(yaml.text).toContain("        code: ai_tokens\n");
    const all = new Capture();
    await metersCommand(dir, { format: "json", all: true }, all);
    expect((JSON.parse(all.text) as { openmeter: { meters: { slug: string }[] } }).openmeter.meters.map((m) => m.slug)).toEqual(["ai_tokens", "calls"]);
  });
});
