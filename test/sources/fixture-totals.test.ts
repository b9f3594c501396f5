import { describe, expect, it } from "vitest";
import { billedTotals, collect, LF_OBSERVATIONS, LF_TRACES, LS_RUNS, LS_RUNS_V2 } from "./helpers.js";

// Expected totals under the default policy, worked out by hand from the fixture design
// (billed input = inclusive input − cache reads; output includes reasoning):
describe("per-tenant totals of the fixtures under the default billing policy", () => {
  it("langsmith/runs.jsonl", async () => {
    const { records } = await collect([LS_RUNS]);
    const { totals, withoutTenant } = billedTotals(records);
    expect(totals).toEqual({
      // o4-mini 2000 in (1536 cached) / 700 out; the JS cache hit, the tiktoken-estimated call and the pending run do not bill.
      acme: { input: 464, output: 700 },
      // Anthropic 5580−3900 / 420 + ephemeral writes 2250 / 150 + wrap_openai 600 / 80; its zero-cost replay (600 / 80, no explicit flag) does not bill.
      globex: { input: 4530, output: 650 },
      // Fallback: the 429'd gpt-4o attempt (812 estimated) does not bill, Claude's 812 / 230 does.
      "10987": { input: 812, output: 230 },
      // Retry: attempt 1 failed, attempt 2 350 / 12.
      initech: { input: 350, output: 12 },
    });
    expect(withoutTenant.map((r) => r.recordId)).toEqual(["019aa219-ef40-795c-b748-4ba0f67fea71"]);
  });

  it("langsmith/runs-v2.json", async () => {
    const { records } = await collect([LS_RUNS_V2]);
    expect(billedTotals(records).totals).toEqual({
      initech: { input: 1976, output: 250 },
      acme: { input: 800, output: 100 },
    });
  });

  it("langfuse/observations.jsonl + traces.json", async () => {
    const { records } = await collect([LF_OBSERVATIONS, LF_TRACES]);
    const { totals, withoutTenant } = billedTotals(records);
    expect(totals).toEqual({
      // embedding 512 + o4-mini 464 / 700 + Anthropic 1680 / 420 + Anthropic via the Python handler 1680 / 410.
      acme: { input: 4336, output: 1530 },
      // ERROR gpt-4o attempt carries 812 provided tokens but does not bill.
      "10987": { input: 812, output: 230 },
      // LiteLLM (inclusive) 2400−2000 / 300 + 3000−1000 / 200; both cache hits are skipped.
      globex: { input: 2400, output: 500 },
      // OpenAI integration 300 / 40 + legacy usage 120 / 30 + v2 item 1000 / 150.
      initech: { input: 1420, output: 220 },
    });
    expect(withoutTenant.map((r) => r.recordId)).toEqual(["2fa42be9e15e9680"]);
  });

  it("counting chain runs too would over-bill (the roll-up trap the normalizer prevents)", async () => {
    const { records } = await collect([LS_RUNS]);
    const chains = records.filter((r) => !r.isModelCall);
    expect(chains.length).toBeGreaterThan(0);
    expect(chains.every((r) => r.usage === null)).toBe(true);
  });
});
