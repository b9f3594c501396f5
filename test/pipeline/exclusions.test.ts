import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadMappingSet } from "../../src/mapping/index.js";
import { emptyExclusions, exclusionTotals } from "../../src/model/index.js";
import { ExclusionCounter } from "../../src/pipeline/exclusions.js";
import { mapInputs } from "../../src/pipeline/map-inputs.js";
import { ROOT } from "../support/stack.js";

const LANGSMITH = join(ROOT, "examples/langsmith/runs.jsonl");

describe("ExclusionCounter over mapped inputs", () => {
  it("counts each record once, whatever the number of its events and skips, and agrees with the mapping's own skips", async () => {
    const set = await loadMappingSet(join(ROOT, "mappings"));
    const x = emptyExclusions("test");
    const counter = new ExclusionCounter(x, set);
    let events = 0;
    let quarantined = 0;
    const records = new Set<string>();
    const skipsByReason: Record<string, number> = {};
    for await (const item of mapInputs([LANGSMITH], set)) {
      counter.push(item);
      if (item.kind === "event") events++;
      if (item.kind === "quarantine") quarantined++;
      if (item.kind === "skip") skipsByReason[item.skip.reason] = (skipsByReason[item.skip.reason] ?? 0) + 1;
      if ((item.kind === "event" || item.kind === "skip") && item.record) records.add(item.record.recordId);
    }
    counter.flush();
    expect(events).toBeGreaterThan(0);
    expect(x.records).toBe(records.size);
    expect(x.quarantined.count).toBe(quarantined);
    expect(x.skipped).toEqual(skipsByReason);
    // The examples carry provider prompt-cache reads, failed calls and a cache hit.
    const t = exclusionTotals(x);
    expect(t.promptCacheReadTokens).toBeGreaterThan(0);
    expect(t.failed).toBeGreaterThan(0);
  });

  it("leaves out records whose usage time is outside the window (quarantined lines have no time and count)", async () => {
    const set = await loadMappingSet(join(ROOT, "mappings"));
    const all = emptyExclusions("all");
    const none = emptyExclusions("none");
    const a = new ExclusionCounter(all, set);
    const b = new ExclusionCounter(none, set, { from: Date.parse("2000-01-01"), to: Date.parse("2000-01-02") });
    for await (const item of mapInputs([LANGSMITH], set)) {
      a.push(item);
      b.push(item);
    }
    a.flush();
    b.flush();
    expect(all.records).toBeGreaterThan(0);
    expect(none.records).toBe(0);
    expect(none.customers).toEqual([]);
    expect(none.quarantined.count).toBe(all.quarantined.count);
  });
});
