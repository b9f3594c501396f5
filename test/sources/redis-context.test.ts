import { describe, expect, it } from "vitest";
import { ContextIndex } from "../../src/sources/context.js";
import { RedisContextStore } from "../../src/sources/redis-context.js";
import type { TraceContext } from "../../src/sources/source.js";
import { traceRecord } from "../mapping/factory.js";
import { testRedis, uniquePrefix } from "../support/redis.js";

const trace = (attributes: TraceContext["attributes"]): TraceContext => ({ traceId: "tr-big", attributes, tags: ["a"], userId: null, sessionId: null, name: "chat" });

describe("RedisContextStore keeps trace attributes exactly as read", () => {
  const redis = testRedis();

  it("a numeric tenant id of 16 digits (and a float) joins unchanged, like the in-memory join preview uses", async () => {
    const store = new RedisContextStore(redis, { prefix: uniquePrefix("ctx"), ttlSeconds: 60, parkSeconds: 60 });
    const memory = new ContextIndex();
    const attributes = { tenant_id: 1234567890123456, ratio: 0.30000000000000004, plan: "pro", flag: true, none: null };
    // Twice: the second merge decodes and re-encodes what the first stored (the lossy path before).
    for (const s of [store, memory]) {
      await s.add("langfuse", [{ trace: trace(attributes) }]);
      await s.add("langfuse", [{ trace: trace({ feature: "search" }) }]);
    }
    const record = traceRecord({ platform: "langfuse", traceId: "tr-big", attributes: {} });
    const [fromRedis] = await store.apply([record]);
    const [fromMemory] = await memory.apply([record]);
    expect(fromRedis!.contextFound).toBe(true);
    expect(fromRedis!.record.attributes).toEqual(fromMemory!.record.attributes);
    expect(fromRedis!.record.attributes.tenant_id).toBe(1234567890123456);
    expect(fromRedis!.record.attributes.ratio).toBe(0.30000000000000004);
    expect(fromRedis!.record.attributes).toMatchObject({ plan: "pro", flag: true, feature: "search" });
  });
});
