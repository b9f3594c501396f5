import { describe, expect, it } from "vitest";
import { compileMappingTexts, formatProblem } from "../../src/mapping/index.js";
import { mappingJsonSchema } from "../../src/mapping/json-schema.js";
import { mappingReadme, README_TEMPLATE } from "../../src/mapping/reference.js";
import { readFileSync } from "node:fs";

describe("mappings/mapping.schema.json", () => {
  it("is generated from the zod schema (run `npx vitest run test/mapping -u` after changing it)", async () => {
    await expect(mappingJsonSchema()).toMatchFileSnapshot("../../mappings/mapping.schema.json");
  });

  it("rejects unknown keys in editors too", () => {
    const schema = JSON.parse(mappingJsonSchema()) as { additionalProperties?: unknown; properties: Record<string, unknown> };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(["name", "description", "enabled", "params", "customer", "subscription", "split", "rules", "metrics"]);
  });
});

describe("mappings/README.md", () => {
  it("is the template plus the reference generated from the zod schema (run `npx vitest run test/mapping -u` after changing either)", async () => {
    await expect(mappingReadme()).toMatchFileSnapshot("../../mappings/README.md");
  });

  it("lists every key of the language with its type, and every problem code", () => {
    const readme = mappingReadme();
    for (const key of ["`params.<name>`", "`split`", "`metrics[].lago`", "`metrics[].openmeter`", "`metrics[].events[]`"]) expect(readme).toContain(`### ${key}`);
    expect(readme).toContain("| `skip_when` | CEL condition (required) |");
    expect(readme).toContain("| `value_property` | text | `value` |");
    expect(readme).toContain("| `TB-MAP-001` | `unknown-key` | error |");
    expect(readme).toContain("| `TB-MAP-101` | `skips-everything` | warning |");
    expect(readme).toContain("| `record.usage.cacheRead` | int — ");
  });

  it("shows an example mapping that loads", () => {
    const template = readFileSync(README_TEMPLATE, "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(template)?.[1];
    expect(example).toBeDefined();
    const { set, problems } = compileMappingTexts([{ file: "README.md", text: example! }]);
    expect(problems.map(formatProblem)).toEqual([]);
    expect(set?.mappings.map((m) => m.name)).toEqual(["llm-tokens"]);
  });
});
