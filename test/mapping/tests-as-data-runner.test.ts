import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SOURCE_NORMALIZERS } from "../../src/cli/commands/mappings-test.js";
import { formatProblem } from "../../src/mapping/index.js";
import {
  loadMappingTests,
  mappingTestJsonSchema,
  renderCaseLine,
  renderFailures,
  runCase,
  type CaseResult,
  type MappingTestFile,
} from "../../src/mapping/tests/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tracebill-mapping-tests-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small policy of its own, so these tests do not move when the shipped mappings do. */
const TOKENS = [
  "name: tokens",
  "customer: [record.attributes.tenant_id, record.attributes.customer_id]",
  "rules:",
  "  - name: success-only",
  "    description: Failed calls are not billed.",
  "    skip_when: record.status != 'success'",
  "metrics:",
  "  - metric: llm_tokens",
  "    properties:",
  "      model: record.modelRequested",
  "    events:",
  "      - key: input",
  "        quantity: record.usage.input - record.usage.cacheRead",
  "        properties: { type: \"'input'\" }",
  "      - key: output",
  "        quantity: record.usage.output",
  "        properties: { type: \"'output'\" }",
];

const REQUESTS = [
  "name: requests",
  "customer: record.attributes.tenant_id",
  "rules:",
  "  - name: usage-required",
  "    skip_when: '!has(record.usage)'",
  "metrics:",
  "  - metric: llm_requests",
  "    events:",
  "      - key: call",
  "        quantity: 1",
];

async function write(files: Record<string, string[]>): Promise<void> {
  for (const [name, lines] of Object.entries(files)) await writeFile(join(dir, name), lines.join("\n") + "\n");
}

async function load(files: Record<string, string[]>, path = dir) {
  await write(files);
  return loadMappingTests(path, { normalizers: SOURCE_NORMALIZERS });
}

async function onlyFile(files: Record<string, string[]>): Promise<MappingTestFile> {
  const suite = await load(files);
  expect(suite.problems.map(formatProblem)).toEqual([]);
  expect(suite.files).toHaveLength(1);
  return suite.files[0]!;
}

function run(file: MappingTestFile): CaseResult[] {
  expect(file.problems.map(formatProblem)).toEqual([]);
  return file.cases.map((c) => runCase(file.set!, c));
}

/** Problems as `file:line:col message` with the temp dir stripped. */
async function problemsOf(files: Record<string, string[]>): Promise<string[]> {
  const suite = await load(files);
  return [...suite.problems, ...suite.files.flatMap((f) => f.problems)].map((p) => formatProblem(p).replace(`${dir}/`, ""));
}

describe("mapping tests as data: running cases", () => {
  it("passes cases whose events and skips match, comparing only the fields they state", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "mapping: tokens",
        "defaults: { attributes: { tenant_id: acme }, modelRequested: gpt-4o, endTime: '2026-11-20T10:00:00Z' }",
        "cases:",
        "  - name: cache reads are not billed",
        "    record: { usage: { input: 1000, cacheRead: 600, output: 50 } }",
        "    expect:",
        "      events:",
        // Listed in the other order than the mapping emits them: a set, not a list.
        "        - { customer: acme, metric: llm_tokens, value: 50, properties: { model: gpt-4o, type: output } }",
        "        - { customer: acme, metric: llm_tokens, value: 400, properties: { type: input }, timestamp: '2026-11-20T10:00:00.000Z' }",
        "  - name: failed calls are skipped",
        "    record: { status: error, usage: { input: 5, output: 5 } }",
        "    expect: { events: [], skipped: SUCCESS-ONLY }",
        "  - name: a tenant sent as a number is text",
        "    record: { attributes: { tenant_id: 10987 }, usage: { input: 1, output: 0 } }",
        "    expect: { events: [{ customer: 10987, value: 1 }], skipped: [] }",
        "  - name: null asserts a property is absent; a dropped default attribute falls back",
        "    record: { modelRequested: null, attributes: { tenant_id: null, customer_id: c-7 }, usage: { input: 3, output: 0 } }",
        "    expect: { events: [{ customer: c-7, properties: { model: null } }] }",
      ],
    });
    const results = run(file);
    expect(results.map((r) => [r.case.name, r.passed, renderFailures(r, { color: false })])).toEqual([
      ["cache reads are not billed", true, ""],
      ["failed calls are skipped", true, ""],
      ["a tenant sent as a number is text", true, ""],
      ["null asserts a property is absent; a dropped default attribute falls back", true, ""],
    ]);
    expect(renderCaseLine(results[0]!, { color: false })).toBe("✓ cache reads are not billed");
  });

  it("pairs events as a set even when a loose expectation could take the one a precise one needs", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "cases:",
        "  - name: loose first",
        "    record: { attributes: { tenant_id: acme }, usage: { input: 400, output: 50 } }",
        "    expect: { events: [{ customer: acme }, { value: 400 }] }",
      ],
    });
    expect(run(file).map((r) => r.passed)).toEqual([true]);
  });

  it("shows a failing case field by field: expected vs got, missing and unexpected events, skips", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "defaults: { attributes: { tenant_id: acme }, modelRequested: gpt-4o }",
        "cases:",
        "  - name: wrong quantity and model",
        "    record: { usage: { input: 1000, cacheRead: 600, output: 50 } }",
        "    expect:",
        "      events:",
        "        - { customer: acme, value: 1000, properties: { model: gpt-4o-mini, type: input } }",
        "        - { customer: acme, value: 50, properties: { type: output } }",
        "  - name: expects a skip but it bills",
        "    record: { usage: { input: 7, output: 0 } }",
        "    expect: { skipped: success-only }",
        "  - name: expects nothing billed",
        "    record: { usage: { input: 7, output: 2 } }",
        "    expect: { events: [] }",
        "  - name: expects an event that never comes",
        "    record: { usage: { input: 7, output: 0 } }",
        "    expect: { events: [{ value: 7 }, { metric: llm_requests, value: 1 }] }",
        "  - name: an unexpected skip",
        "    record: { status: error }",
        "    expect: { skipped: [] }",
        "  - name: a feature that is absent",
        "    record: { usage: { input: 7, output: 0 } }",
        "    expect: { events: [{ value: 7, properties: { feature: checkout } }] }",
      ],
    });
    const results = run(file);
    const shown = (i: number) => renderFailures(results[i]!, { color: false }, "");
    expect(results.map((r) => r.passed)).toEqual([false, false, false, false, false, false]);
    expect(renderCaseLine(results[0]!, { color: false })).toBe(`✗ wrong quantity and model (${dir}/tokens.test.yaml:3:5)`);
    expect(shown(0)).toBe(
      [
        'event 1 { customer: "acme", value: 1000, properties: { model: "gpt-4o-mini", type: "input" } }',
        "  value: expected 1000, got 400",
        '  properties.model: expected "gpt-4o-mini", got "gpt-4o"',
      ].join("\n"),
    );
    expect(shown(1)).toBe('skipped: expected a skip matching "success-only", got no skip (the record was billed: 1 event)');
    expect(shown(2)).toBe(
      [
        'unexpected event { customer: "acme", metric: "llm_tokens", value: 7, properties: { model: "gpt-4o", type: "input" } }',
        'unexpected event { customer: "acme", metric: "llm_tokens", value: 2, properties: { model: "gpt-4o", type: "output" } }',
      ].join("\n"),
    );
    expect(shown(3)).toBe('event 2 { metric: "llm_requests", value: 1 }: not produced');
    expect(shown(4)).toBe('skipped: not expected, got "tokens/success-only: Failed calls are not billed."');
    expect(shown(5)).toBe(['event 1 { value: 7, properties: { feature: "checkout" } }', '  properties.feature: expected "checkout", got (absent)'].join("\n"));
  });

  it("says why expected events are missing when the case does not check skips", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": ["cases:", "  - name: c", "    record: { status: error, attributes: { tenant_id: a }, usage: { input: 2, output: 0 } }", "    expect: { events: [{ value: 2 }] }"],
    });
    expect(renderFailures(run(file)[0]!, { color: false }, "")).toBe(
      ['event 1 { value: 2 }: not produced', '(skipped, not checked: "tokens/success-only: Failed calls are not billed.")'].join("\n"),
    );
  });

  it("colours expected green and got red on a terminal, and nothing otherwise", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": ["cases:", "  - name: c", "    record: { attributes: { tenant_id: a }, usage: { input: 2, output: 0 } }", "    expect: { events: [{ value: 1 }] }"],
    });
    const [r] = run(file);
    expect(renderFailures(r!, { color: true }, "")).toBe("event 1 { value: 1 }\n  value: expected \u001b[32m1\u001b[39m, got \u001b[31m2\u001b[39m");
    expect(renderCaseLine(r!, { color: true })).toBe(`\u001b[31m✗\u001b[39m c \u001b[2m(${dir}/tokens.test.yaml:2:5)\u001b[22m`);
    expect(renderFailures(r!, { color: false }, "")).not.toContain("\u001b");
  });

  it("runs a file without `mapping:` against the whole set, and narrows it when named", async () => {
    const cases = ["cases:", "  - name: c", "    record: { attributes: { tenant_id: a }, usage: { input: 2, output: 0 } }"];
    const suite = await load({
      "requests.yaml": REQUESTS,
      "tokens.yaml": TOKENS,
      "all.test.yaml": [...cases, "    expect: { events: [{ mapping: tokens, value: 2 }, { mapping: requests, metric: llm_requests, value: 1 }] }"],
      "requests.test.yaml": ["mapping: [requests]", ...cases, "    expect: { events: [{ metric: llm_requests, value: 1 }] }"],
    });
    const results = suite.files.map((f) => run(f).map((r) => [f.file.replace(`${dir}/`, ""), r.passed, renderFailures(r, { color: false })]));
    expect(results).toEqual([[["all.test.yaml", true, ""]], [["requests.test.yaml", true, ""]]]);
  });

  it("names the mapping of an unexpected event when the set has several", async () => {
    const file = await onlyFile({
      "requests.yaml": REQUESTS,
      "tokens.yaml": TOKENS,
      "all.test.yaml": ["cases:", "  - name: c", "    record: { attributes: { tenant_id: a }, usage: { input: 2, output: 0 } }", "    expect: { events: [{ value: 2 }] }"],
    });
    expect(renderFailures(run(file)[0]!, { color: false }, "")).toBe('unexpected event { customer: "a", metric: "llm_requests", mapping: "requests", value: 1, properties: {} }');
  });

  it("reads raw platform records through the real normalizers, then applies `record:` on top", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "cases:",
        "  - name: a Langfuse generation with exclusive buckets",
        "    raw:",
        "      langfuse:",
        "        { id: o1, traceId: t1, type: GENERATION, model: claude-sonnet-4, endTime: '2026-11-20T09:30:20.204Z',",
        "          usageDetails: { input: 200, input_cache_read: 3000, input_cache_creation: 900, output: 350 } }",
        "    record: { attributes: { tenant_id: acme } }",
        "    expect:",
        "      events:",
        // 200 uncached + 900 written; the 3,000 read are not billed.
        "        - { customer: acme, value: 1100, properties: { model: claude-sonnet-4, type: input }, timestamp: '2026-11-20T09:30:20.204Z' }",
        "        - { value: 350, properties: { type: output } }",
      ],
    });
    expect(file.cases[0]!.record).toMatchObject({ platform: "langfuse", recordId: "o1", usage: { input: 4100, cacheRead: 3000, cacheWrite: 900, output: 350 } });
    expect(run(file).map((r) => renderFailures(r, { color: false }))).toEqual([""]);
  });

  it("fills a `record:` case with a successful model call and sensible ids", async () => {
    const file = await onlyFile({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": ["cases:", "  - name: one", "    record: { usage: { output: 3 } }", "    expect: { skipped: no customer }", "  - name: two", "    record: { recordId: run-9 }", "    expect: { skipped: no customer }"],
    });
    expect(file.cases.map((c) => [c.record.recordId, c.record.traceId, c.record.status, c.record.isModelCall, c.record.usage])).toEqual([
      ["case-1", "case-1", "success", true, { input: 0, output: 3, cacheRead: 0, cacheWrite: 0, reasoning: 0 }],
      ["run-9", "run-9", "success", true, null],
    ]);
  });
});

describe("mapping tests as data: invalid files", () => {
  it("reports each problem at file:line:col, in the words the mapping loader uses", async () => {
    const problems = await problemsOf({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "mapping: tokns",
        "cases:",
        "  - name: typo in a record field",
        "    record: { usage: { input: 10, cache_read: 5 } }",
        "    expect: { events: [] }",
        "  - name: value as text",
        "    record: { status: done }",
        "    expect: { events: [{ value: '400' }] }",
        "  - name: no expectation",
        "    record: {}",
        "    expect: {}",
        "  - name: no record",
        "    expect: { events: [] }",
        "    expected: { events: [] }",
      ],
    });
    expect(problems).toEqual([
      "tokens.test.yaml:4:35 cases[typo in a record field].record.usage: unknown key 'cache_read' (did you mean 'cacheRead'?); allowed here: input, output, cacheRead, cacheWrite, reasoning",
      "tokens.test.yaml:7:23 cases[value as text].record.status: expected success, error or pending, got text \"done\"",
      "tokens.test.yaml:8:33 cases[value as text].expect.events[0].value: expected a number, got text \"400\"",
      "tokens.test.yaml:11:13 cases[no expectation].expect: expect needs `events:`, `skipped:` or both",
      "tokens.test.yaml:12:5 cases[no record]: a case needs `record:` (or `raw:`)",
      "tokens.test.yaml:14:5 cases[no record]: unknown key 'expected' (did you mean 'expect'?); allowed here: name, description, record, raw, expect",
    ]);
  });

  it("checks names against the set, duplicate case names, and raw records the normalizer rejects", async () => {
    const problems = await problemsOf({
      "tokens.yaml": TOKENS,
      "tokens.test.yaml": [
        "mapping: tokns",
        "cases:",
        "  - name: same",
        "    record: {}",
        "    expect: { events: [] }",
        "  - name: same",
        "    raw: { langsmith: { id: r1, name: ChatOpenAI } }",
        "    expect: { events: [] }",
      ],
    });
    expect(problems).toEqual([
      "tokens.test.yaml:1:10 no mapping named 'tokns' here (did you mean 'tokens'?); mappings in this directory: tokens",
      "tokens.test.yaml:6:11 duplicate case name 'same' (first at " + `${dir}/tokens.test.yaml:3:11); failures are reported by name`,
      "tokens.test.yaml:7:23 cases[same].raw.langsmith: the LangSmith run cannot be read: missing run_type",
    ]);
  });

  it("reports YAML syntax errors, empty files and missing keys", async () => {
    const one = async (lines: string[]) => {
      await rm(join(dir, "x.test.yaml"), { force: true });
      return problemsOf({ "tokens.yaml": TOKENS, "x.test.yaml": lines });
    };
    expect(await one(["cases:", "  - name: [unclosed"])).toEqual([expect.stringMatching(/^x\.test\.yaml:3:1 YAML: Flow sequence/)]);
    expect(await one(["# nothing yet"])).toEqual(["x.test.yaml:1:1 the file is empty; expected `cases:` (and optionally `mapping:`, `defaults:`)"]);
    expect(await one(["mapping: tokens"])).toEqual(["x.test.yaml:1:1 missing required key 'cases'"]);
    expect(await one(["cases: []"])).toEqual(["x.test.yaml:1:8 cases: a test file needs at least one case"]);
  });

  it("lists the mapping set's own problems and runs no case against a broken set", async () => {
    const suite = await load({ "tokens.yaml": ["name: tokens", "bogus: 1"], "tokens.test.yaml": ["cases:", "  - name: c", "    record: {}", "    expect: { events: [] }"] });
    const [file] = suite.files;
    expect(file!.cases).toEqual([]);
    expect(file!.problems.map((p) => formatProblem(p).replace(`${dir}/`, ""))).toContain("tokens.yaml:2:1 unknown key 'bogus'; allowed here: name, description, enabled, params, customer, subscription, split, rules, metrics");
  });

  it("finds tests from a directory, a test file or the mapping they test", async () => {
    await write({ "tokens.yaml": TOKENS, "requests.yaml": REQUESTS, "tokens.test.yaml": ["cases:", "  - name: c", "    record: {}", "    expect: { skipped: no customer }"] });
    const files = async (path: string) => (await loadMappingTests(path)).files.map((f) => f.file.replace(`${dir}/`, ""));
    expect(await files(dir)).toEqual(["tokens.test.yaml"]);
    expect(await files(join(dir, "tokens.test.yaml"))).toEqual(["tokens.test.yaml"]);
    expect(await files(join(dir, "tokens.yaml"))).toEqual(["tokens.test.yaml"]);
    const none = await loadMappingTests(join(dir, "requests.yaml"));
    expect(none.problems.map((p) => formatProblem(p).replace(`${dir}/`, ""))).toEqual(["requests.yaml:1:1 no tests for this mapping: expected requests.test.yaml beside it"]);
    const empty = await mkdtemp(join(tmpdir(), "tracebill-no-tests-"));
    try {
      expect((await loadMappingTests(empty)).problems.map((p) => p.message)).toEqual(["no mapping tests (*.test.yaml) in this directory"]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe("mappings/mapping-test.schema.json", () => {
  it("is generated from the zod schema (run `npx vitest run test/mapping -u` after changing it)", async () => {
    await expect(mappingTestJsonSchema()).toMatchFileSnapshot("../../mappings/mapping-test.schema.json");
  });

  it("rejects unknown keys in editors too", () => {
    const schema = JSON.parse(mappingTestJsonSchema()) as { additionalProperties?: unknown; properties: Record<string, unknown> };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(["mapping", "defaults", "cases"]);
  });
});
