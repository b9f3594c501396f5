/**
 * Runs every `mappings/*.test.yaml` as part of `npm test`: one vitest case per data case, named
 * after it, failing with the same field-by-field diff `tracebill mappings test` prints.
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SOURCE_NORMALIZERS } from "../../src/cli/commands/mappings-test.js";
import { formatProblem } from "../../src/mapping/index.js";
import { loadMappingTests, renderFailures, runCase } from "../../src/mapping/tests/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAPPINGS = fileURLToPath(new URL("../../mappings", import.meta.url));

const suite = await loadMappingTests(MAPPINGS, { normalizers: SOURCE_NORMALIZERS });

describe("mappings/*.test.yaml", () => {
  it("are found", () => {
    expect(suite.problems.map(formatProblem)).toEqual([]);
    expect(suite.files.map((f) => relative(ROOT, f.file))).toContain("mappings/llm-tokens.test.yaml");
  });
});

for (const file of suite.files) {
  describe(relative(ROOT, file.file), () => {
    if (file.problems.length) {
      it("is a valid test file for a valid mapping set", () => {
        expect.fail(file.problems.map(formatProblem).join("\n"));
      });
    }
    for (const c of file.cases) {
      it(c.name, () => {
        const r = runCase(file.set!, c);
        if (!r.passed) expect.fail(`${c.file}:${c.line}:${c.col}\n${renderFailures(r, { color: false })}`);
      });
    }
  });
}
