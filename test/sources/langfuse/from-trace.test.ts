import { describe, expect, it } from "vitest";
import { fromLangfuseTrace } from "../../../src/sources/langfuse/from-trace.js";
import { LF_TRACES, rawElement } from "../helpers.js";

describe("fromLangfuseTrace", () => {
  it("tenant context: metadata, userId, sessionId, tags, name", async () => {
    expect(fromLangfuseTrace(await rawElement(LF_TRACES, 0))).toEqual({
      traceId: "c6fb6bdb4a2b3490e1d47822fbe28c57",
      attributes: { tenant_id: "acme", feature: "support-chat" },
      tags: ["prod"],
      userId: "user-42",
      sessionId: "sess-9f1c",
      name: "support-chat",
    });
  });

  it("a customer_id the API parsed back to a number stays a number", async () => {
    expect(fromLangfuseTrace(await rawElement(LF_TRACES, 1)).attributes).toEqual({ customer_id: 10987, feature: "email-draft" });
  });

  it("the LiteLLM cache-hit tag is kept for the join", async () => {
    expect(fromLangfuseTrace(await rawElement(LF_TRACES, 3)).tags).toEqual(["cache_hit:True"]);
  });

  it("malformed traces throw", async () => {
    await expect(async () => fromLangfuseTrace(await rawElement(LF_TRACES, 4))).rejects.toThrow(/missing id/);
    const good = await rawElement(LF_TRACES, 0);
    expect(() => fromLangfuseTrace({ ...good, timestamp: "last week" })).toThrow(/timestamp: not an ISO-8601/);
    expect(() => fromLangfuseTrace({ ...good, tags: [1] })).toThrow(/tags: expected an array of strings/);
  });
});
