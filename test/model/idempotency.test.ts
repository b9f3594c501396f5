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

  it("never changes a key across versions: the ledger and the billers dedupe on it", () => {
    // Values computed by the first implementation (one hash update per part); a change here would bill replays twice.
    expect(idempotencyKey({ platform: "langsmith", recordId: "run-42", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "input", split: 0 })).toBe("tb_936W6JriIyFdQXELt5tifJxIxtPoYUum");
    expect(idempotencyKey({ platform: "langfuse", recordId: "obs-é-1", mapping: "llm-tokens", metric: "llm_tokens", discriminator: "output", split: 2 })).toBe("tb_a41K9V14H20n1_fjmRulhy5cyxts1q_b");
  });
});
