import { describe, expect, it } from "vitest";
import { toIsoUtc } from "../../src/sources/timestamps.js";

describe("toIsoUtc", () => {
  it.each([
    ["LangSmith v1 naive (UTC by convention)", "2024-04-29T00:49:12.090000", "2024-04-29T00:49:12.090Z"],
    ["JS client Z with microseconds", "2024-04-29T00:49:12.090000Z", "2024-04-29T00:49:12.090Z"],
    ["Python +00:00 with a space", "2025-11-20 10:16:05.874000+00:00", "2025-11-20T10:16:05.874Z"],
    ["Langfuse API", "2025-11-20T10:16:05.874Z", "2025-11-20T10:16:05.874Z"],
    ["Langfuse blob (space, microseconds)", "2025-11-20 10:16:05.874000", "2025-11-20T10:16:05.874Z"],
    ["offset east of UTC", "2025-11-20T12:16:05.5+02:00", "2025-11-20T10:16:05.500Z"],
    ["offset west without colon", "2025-11-20T05:16:05-0500", "2025-11-20T10:16:05.000Z"],
    ["no fraction", "2026-11-20T09:00:00Z", "2026-11-20T09:00:00.000Z"],
    ["microseconds are truncated, not rounded", "2026-11-20T09:00:00.999999", "2026-11-20T09:00:00.999Z"],
  ])("%s", (_label, input, expected) => {
    expect(toIsoUtc(input, "t")).toBe(expected);
  });

  it("does not read a naive timestamp as local time", () => {
    const before = process.env["TZ"];
    process.env["TZ"] = "America/Los_Angeles";
    try {
      expect(toIsoUtc("2024-04-29T00:49:12.090000", "t")).toBe("2024-04-29T00:49:12.090Z");
    } finally {
      process.env["TZ"] = before;
    }
  });

  it("absent is null", () => {
    expect(toIsoUtc(undefined, "t")).toBeNull();
    expect(toIsoUtc(null, "t")).toBeNull();
  });

  it.each([
    ["yesterday", /not an ISO-8601 timestamp/],
    ["2025-02-30T00:00:00Z", /not a valid date/],
    [1732097765000, /expected a timestamp string/],
  ])("rejects %j", (input, message) => {
    expect(() => toIsoUtc(input, "start_time")).toThrow(message);
  });
});
