import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { billedTotals, collect, repoPath } from "./helpers.js";

const LS = repoPath("examples/langsmith/runs.jsonl");
const LF_OBS = repoPath("examples/langfuse/observations.jsonl");
const LF_TRACES = repoPath("examples/langfuse/traces.json");

const EXPECTED = {
  langsmith: {
    acme: { input: 3772, output: 1510 },
    globex: { input: 4870, output: 685 },
    "10987": { input: 2340, output: 535 },
    initech: { input: 1474, output: 195 },
  },
  langfuse: {
    acme: { input: 5310, output: 1581 },
    "10987": { input: 2570, output: 564 },
    globex: { input: 6756, output: 771 },
    initech: { input: 3440, output: 378 },
  },
};

describe("examples/: the sample exports the demo syncs", () => {
  it("LangSmith runs bill exactly the README totals", async () => {
    const { records, quarantined } = await collect([LS]);
    const { totals, withoutTenant } = billedTotals(records);
    expect(totals).toEqual(EXPECTED.langsmith);
    expect(withoutTenant.length).toBe(1);
    expect(quarantined).toEqual([{ input: LS, position: "line 21", reason: expect.stringMatching(/^invalid JSON/) }]);
    expect(records.length).toBe(35);
    expect(records.every((r) => r.startTime?.startsWith("2026-11-2"))).toBe(true);
  });

  it("Langfuse observations + traces bill exactly the README totals", async () => {
    const { records, quarantined } = await collect([LF_OBS, LF_TRACES]);
    const { totals, withoutTenant } = billedTotals(records);
    expect(totals).toEqual(EXPECTED.langfuse);
    expect(withoutTenant.length).toBe(1);
    expect(quarantined).toEqual([{ input: LF_OBS, position: "line 10", reason: expect.stringMatching(/^invalid JSON/) }]);
    expect(records.length).toBe(36);
  });

  it("the README states the same numbers", async () => {
    const readme = await readFile(repoPath("examples/README.md"), "utf8");
    for (const [platform, tenants] of Object.entries(EXPECTED)) {
      for (const [tenant, t] of Object.entries(tenants)) {
        expect(readme).toContain(`| ${platform} | ${tenant} | ${t.input.toLocaleString("en-US")} | ${t.output.toLocaleString("en-US")} |`);
      }
    }
  });
});
