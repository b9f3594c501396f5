import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../../src/model/index.js";
import { formatProblem, loadMappingSet, MappingLoadError, metricsOf, validateMappingPath } from "../../src/mapping/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tracebill-mapping-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes files (name → lines) into the temp dir; returns the path of the first. */
async function files(spec: Record<string, string[]>): Promise<string> {
  for (const [name, lines] of Object.entries(spec)) await writeFile(join(dir, name), lines.join("\n") + "\n");
  return join(dir, Object.keys(spec)[0]!);
}

/** Problems as `file:line:col message` with the temp dir stripped. */
async function problems(path: string): Promise<string[]> {
  return (await validateMappingPath(path)).map((p) => formatProblem(p).replace(`${dir}/`, ""));
}

const valid = (name = "m1", metric = "tokens") => [
  `name: ${name}`,
  "customer: record.attributes.tenant_id",
  "rules:",
  "  - name: no-cache-hits",
  "    skip_when: record.cacheHit",
  "metrics:",
  `  - metric: ${metric}`,
  "    events:",
  "      - key: input",
  "        quantity: record.usage.input",
];

describe("loading mapping files", () => {
  it("loads a valid file and stamps its content hash", async () => {
    const path = await files({ "a.yaml": valid() });
    const set = await loadMappingSet(path);
    expect(set.mappings.map((m) => [m.name, m.file])).toEqual([["m1", path]]);
    expect(set.mappings[0]!.version).toMatch(/^[0-9a-f]{12}$/);
    expect(set.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it("changes the version when the file changes, and only then", async () => {
    const path = await files({ "a.yaml": valid() });
    const first = await loadMappingSet(path);
    expect((await loadMappingSet(path)).mappings[0]!.version).toBe(first.mappings[0]!.version);
    await files({ "a.yaml": [...valid(), "description: now documented"] });
    const second = await loadMappingSet(path);
    expect(second.mappings[0]!.version).not.toBe(first.mappings[0]!.version);
    expect(second.version).not.toBe(first.version);
  });

  it("reports a YAML syntax error at its position", async () => {
    const path = await files({ "a.yaml": ["name: m1", "customer:", "  - record.attributes.tenant_id", " bad: [", "metrics: []"] });
    expect(await problems(path)).toEqual([
      "a.yaml:4:1 YAML: All mapping items must start at the same column",
      "a.yaml:5:1 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ]);
  });

  it("explains an unquoted expression starting with '!' (a YAML tag)", async () => {
    const lines = valid();
    lines[4] = "    skip_when: !record.isModelCall";
    const path = await files({ "a.yaml": lines });
    expect(await problems(path)).toEqual([
      `a.yaml:5:16 YAML: Unresolved tag: !record.isModelCall (a value starting with '!' is a YAML tag: quote the expression, e.g. "!record.isModelCall")`,
    ]);
  });

  it("reports an unknown key at the key, with a suggestion and the allowed keys", async () => {
    const lines = valid();
    lines[4] = "    skip_whn: record.cacheHit";
    const path = await files({ "a.yaml": lines });
    expect(await problems(path)).toEqual([
      "a.yaml:4:5 rules[no-cache-hits]: missing required key 'skip_when'",
      "a.yaml:5:5 rules[no-cache-hits]: unknown key 'skip_whn' (did you mean 'skip_when'?); allowed here: name, description, skip_when",
    ]);
  });

  it("reports a wrong type at the value", async () => {
    const lines = valid();
    lines[2] = "rules: 5";
    lines.splice(3, 2);
    lines[lines.length - 1] = "        quantity: [1, 2]";
    const path = await files({ "a.yaml": lines });
    expect(await problems(path)).toEqual([
      "a.yaml:3:8 rules: expected a list of rules, got the number 5",
      "a.yaml:8:19 metrics[tokens].events[input].quantity: expected a CEL expression, got a list",
    ]);
  });

  it("reports a missing required key at the enclosing map", async () => {
    const path = await files({ "a.yaml": ["name: m1", "metrics: []"] });
    expect(await problems(path)).toEqual([
      "a.yaml:1:1 missing required key 'customer'",
      "a.yaml:2:10 metrics: a mapping needs at least one metric",
    ]);
  });

  it("reports CEL syntax errors at the character, inside plain, quoted and block scalars", async () => {
    const path = await files({
      "a.yaml": [
        "name: m1",
        "customer: \"record.attributes.tenant_id +\"",
        "rules:",
        "  - name: r",
        "    skip_when: record.status == 'success' &&",
        "  - name: multi-line",
        "    skip_when: |",
        "      record.cacheHit ||",
        "        record.usage.input >> 3",
        "metrics:",
        "  - metric: tokens",
        "    events:",
        "      - key: input",
        "        quantity: record.usage.input",
      ],
    });
    expect(await problems(path)).toEqual([
      "a.yaml:2:41 customer: CEL syntax error: Unexpected token: EOF",
      "a.yaml:5:45 rules[r].skip_when: CEL syntax error: Unexpected token: EOF",
      "a.yaml:9:29 rules[multi-line].skip_when: CEL syntax error: Unexpected token: GT",
    ]);
  });

  it("names the character offset when the scalar is not the expression verbatim (escapes)", async () => {
    const lines = valid();
    lines[4] = '    skip_when: "record.status == \\"ok\\" &&"';
    const path = await files({ "a.yaml": lines });
    expect(await problems(path)).toEqual([
      "a.yaml:5:16 rules[no-cache-hits].skip_when: CEL syntax error: Unexpected token: EOF (at character 25 of the expression)",
    ]);
  });

  it("reports CEL type errors with hints: misspelt field, literal text, wrong result type, customer too early", async () => {
    const path = await files({
      "a.yaml": [
        "name: m1",
        "customer: customer",
        "rules:",
        "  - name: r",
        "    skip_when: record.usge.input > 3",
        "  - name: not-a-condition",
        "    skip_when: record.usage.input",
        "metrics:",
        "  - metric: tokens",
        "    properties:",
        "      type: input",
        "    events:",
        "      - key: input",
        "        quantity: record.status",
      ],
    });
    expect(await problems(path)).toEqual([
      "a.yaml:2:11 customer: CEL error: Unknown variable: customer (the customer is not known yet in rules and customer expressions)",
      "a.yaml:5:23 rules[r].skip_when: CEL error: No such key: usge (did you mean 'usage'?)",
      "a.yaml:7:16 rules[not-a-condition].skip_when: this expression must give true or false, but gives int",
      "a.yaml:11:13 metrics[tokens].properties.type: CEL error: Unknown variable: input (expressions here see: record, params, customer; for literal text write 'input' with quotes)",
      "a.yaml:14:19 metrics[tokens].events[input].quantity: this expression must give a number, but gives string",
    ]);
  });

  it("reports duplicate event keys, duplicate rule names and a property hiding the quantity", async () => {
    const path = await files({
      "a.yaml": [
        "name: m1",
        "customer: record.attributes.tenant_id",
        "rules:",
        "  - name: no-cache-hits",
        "    skip_when: record.cacheHit",
        "  - name: no-cache-hits",
        "    skip_when: record.usageEstimated",
        "metrics:",
        "  - metric: tokens",
        "    events:",
        "      - key: input",
        "        quantity: record.usage.input",
        "      - key: input",
        "        quantity: record.usage.output",
        "        properties:",
        "          value: \"'x'\"",
      ],
    });
    expect(await problems(path)).toEqual([
      `a.yaml:6:11 duplicate rule name 'no-cache-hits' (first at ${path}:4:11); skip reasons must say which rule matched`,
      `a.yaml:13:14 duplicate event key 'input' in metric 'tokens' (first at ${path}:11:14); both events would get the same idempotency key`,
      "a.yaml:16:11 property 'value' collides with value_property",
    ]);
  });

  it("reports duplicate mapping names across two files at the later one", async () => {
    await files({ "a.yaml": valid("shared"), "b.yaml": valid("shared", "other") });
    expect(await problems(dir)).toEqual([`b.yaml:1:7 duplicate mapping name 'shared' (first at ${dir}/a.yaml:1:7); names must be unique in a set`]);
  });

  it("reports one metric with two quantity property names across files", async () => {
    const b = valid("m2");
    b.splice(7, 0, "    value_property: tokens");
    await files({ "a.yaml": valid("m1"), "b.yaml": b });
    expect(await problems(dir)).toEqual([
      `b.yaml:7:13 metric 'tokens' uses value_property 'tokens' here but 'value' at ${dir}/a.yaml:7:13`,
    ]);
  });

  it("reports every problem of every file in a directory at once, skipping tests and non-mapping files", async () => {
    const unknownKey = valid("two");
    unknownKey.push("    extra: 1");
    await files({
      "one.yaml": ["name: one", "customer: [record.attributes.tenant_id"],
      "two.yml": unknownKey,
      "three.yaml": [...valid("three").slice(0, -1), "        quantity: record.usage.input +"],
      "four.yaml": valid("two"),
      "llm.test.yaml": ["this is not a mapping: ["],
      "mapping.schema.json": ["{ not json"],
      "README.md": ["# docs"],
    });
    expect(await problems(dir)).toEqual([
      "one.yaml:3:1 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
      "three.yaml:10:39 metrics[tokens].events[input].quantity: CEL syntax error: Unexpected token: EOF",
      `two.yml:1:7 duplicate mapping name 'two' (first at ${dir}/four.yaml:1:7); names must be unique in a set`,
      "two.yml:11:5 metrics[tokens]: unknown key 'extra'; allowed here: metric, description, value_property, lago, openmeter, properties, events",
    ]);
  });

  it("throws a MappingLoadError (a UserError, exit code 1) carrying every problem", async () => {
    await files({ "a.yaml": ["name: a", "metrics: []"], "b.yaml": [""] });
    const error = await loadMappingSet(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MappingLoadError);
    expect(error).toBeInstanceOf(UserError);
    const e = error as MappingLoadError;
    expect(e.exitCode).toBe(1);
    expect(e.problems.map((p) => [p.file.replace(`${dir}/`, ""), p.line, p.col])).toEqual([
      ["a.yaml", 1, 1],
      ["a.yaml", 2, 10],
      ["b.yaml", 1, 1],
    ]);
    expect(e.message).toContain(formatProblem(e.problems[2]!));
    expect(e.problems[2]!.message).toMatch(/file is empty/);
  });

  it("reports a path that does not exist, and an empty directory", async () => {
    expect(await problems(join(dir, "missing.yaml"))).toEqual([expect.stringMatching(/^missing\.yaml:1:1 cannot read: ENOENT/)]);
    expect(await problems(dir)).toEqual([`${dir}:1:1 no mapping files (*.yaml, *.yml) in this directory`]);
  });

  it("accepts YAML numbers and booleans as expressions and a single customer expression", async () => {
    const path = await files({
      "a.yaml": ["name: calls", "customer: record.attributes.tenant_id", "rules:", "  - {name: never, skip_when: false}", "metrics:", "  - metric: calls", "    events:", "      - {key: call, quantity: 1}"],
    });
    const set = await loadMappingSet(path);
    expect(metricsOf(set)).toEqual([{ metric: "calls", valueProperty: "value" }]);
  });
});
