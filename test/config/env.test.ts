import { describe, expect, it } from "vitest";
import { destinationSettings, loadConfig } from "../../src/config/env.js";
import { UserError } from "../../src/model/index.js";

describe("loadConfig", () => {
  it("applies defaults on an empty environment", () => {
    const c = loadConfig({});
    expect(c.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(c.mappingsDir).toBe("./mappings");
    expect(c.ledgerTtlSeconds).toBe(45 * 86_400);
    expect(c.lago.apiUrl).toBeUndefined();
  });

  it("stops with a message naming each invalid variable", () => {
    let err: unknown;
    try {
      loadConfig({ REDIS_URL: "not a url", TRACEBILL_DELIVERY_CONCURRENCY: "zero", LOG_LEVEL: "loud" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).toContain("REDIS_URL");
    expect(msg).toContain("TRACEBILL_DELIVERY_CONCURRENCY");
    expect(msg).toContain("LOG_LEVEL");
  });

  it("treats empty strings as unset", () => {
    expect(loadConfig({ LAGO_API_URL: "" }).lago.apiUrl).toBeUndefined();
  });

  it("names missing destination variables without printing secrets", () => {
    const c = loadConfig({ LAGO_API_KEY: "sk-secret-123" });
    expect(() => destinationSettings(c, "lago")).toThrow(/LAGO_API_URL/);
    try {
      destinationSettings(c, "lago");
    } catch (e) {
      expect((e as Error).message).not.toContain("sk-secret-123");
    }
    expect(() => destinationSettings(c, "openmeter")).toThrow(/OPENMETER_URL and OPENMETER_API_KEY/);
  });
});
