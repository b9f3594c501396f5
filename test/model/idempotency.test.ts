import { describe, expect, it } from "vitest";
import { idempotencyKey, type KeyParts } from "../../src/model/index.js";

const base: KeyParts = { platform: "langsmith", recordId: "r1", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 };

describe("idempotencyKey", () => {
  it("is stable for the same parts and URL-safe", () => {
    const a = idempotencyKey(base);
    expect(a).toBe(idempotencyKey({ ...base }));
    expect(a).toMatch(/^tb_[A-Za-z0-9_-]{32}$/);
    expect(encodeURIComponent(a)).toBe(a);
  });

  it("changes with every part", () => {
    const a = idempotencyKey(base);
    const variants: Partial<KeyParts>[] = [
      { platform: "langfuse" }, { recordId: "r2" }, { mapping: "other" },
      { metric: "m2" }, { discriminator: "output" }, { split: 1 },
    ];
    const keys = variants.map((v) => idempotencyKey({ ...base, ...v }));
    for (const k of keys) expect(k).not.toBe(a);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("does not collide when a boundary between parts moves", () => {
    expect(idempotencyKey({ ...base, recordId: "ab", mapping: "c" })).not.toBe(idempotencyKey({ ...base, recordId: "a", mapping: "bc" }));
  });
});
