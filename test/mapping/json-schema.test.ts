import { describe, expect, it } from "vitest";
import { mappingJsonSchema } from "../../src/mapping/json-schema.js";

describe("mappings/mapping.schema.json", () => {
  it("is generated from the zod schema (run `npx vitest run test/mapping -u` after changing it)", async () => {
    await expect(mappingJsonSchema()).toMatchFileSnapshot("../../mappings/mapping.schema.json");
  });

  it("rejects unknown keys in editors too", () => {
    const schema = JSON.parse(mappingJsonSchema()) as { additionalProperties?: unknown; properties: Record<string, unknown> };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(["name", "description", "customer", "subscription", "rules", "metrics"]);
  });
});
