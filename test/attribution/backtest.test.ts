import { beforeAll, describe, expect, it } from "vitest";
import { backtest, type BacktestReport } from "../../src/attribution/index.js";
import { renderBacktest } from "../../src/cli/commands/attribution.js";
import type { MappingSet } from "../../src/mapping/index.js";
import type { TraceRecord } from "../../src/model/index.js";
import { traceRecord, usage } from "../mapping/factory.js";
import { config, itemsOf, llmTokens, shuffled } from "./helpers.js";

let set: MappingSet;
beforeAll(async () => {
  set = await llmTokens();
});

const at = (day: string) => ({ startTime: `${day}T12:00:00.000Z`, endTime: `${day}T12:00:01.000Z` });
const tenant = (id: string, t: string, day: string, model: string, u: Parameters<typeof usage>[0]) =>
  traceRecord({ recordId: id, traceId: id, ...at(day), attributes: { tenant_id: t }, modelRequested: model, modelExecuted: model, usage: usage(u) });
const system = (id: string, day: string, model: string, u: Parameters<typeof usage>[0]) =>
  traceRecord({ recordId: id, traceId: id, ...at(day), attributes: {}, modelRequested: model, modelExecuted: model, usage: usage(u) });

/**
 * Billed (llm-tokens policy: input − cache reads, output):
 *   2025-03-01  acme   gpt-4o       800 in + 200 out  (1000 input, 200 of them cache reads)
 *               globex gpt-4o-mini  400 in + 100 out
 *               system gpt-4o      1001 in +  50 out  ← unattributed
 *               late   gpt-4o       123 in            ← no tenant, trace never arrived: not counted
 *   2025-03-02  acme   gpt-4o-mini  300 in +  30 out
 *               system gpt-4o       500 in            ← unattributed
 *   2025-03-03  system gpt-4o        77 in            ← unattributed, nobody active: not allocated
 *   2025-02-28  acme   gpt-4o      5000 in            ← outside the period
 */
const input = (): (TraceRecord | [TraceRecord, boolean])[] => [
  tenant("a1", "acme", "2025-03-01", "gpt-4o", { input: 1000, cacheRead: 200, output: 200 }),
  tenant("g1", "globex", "2025-03-01", "gpt-4o-mini", { input: 400, output: 100 }),
  system("s1", "2025-03-01", "gpt-4o", { input: 1001, output: 50 }),
  [{ ...system("late", "2025-03-01", "gpt-4o", { input: 123, output: 0 }), traceId: "t-late", parentId: "p-late" }, false],
  tenant("a2", "acme", "2025-03-02", "gpt-4o-mini", { input: 300, output: 30 }),
  system("s2", "2025-03-02", "gpt-4o", { input: 500, output: 0 }),
  system("s3", "2025-03-03", "gpt-4o", { input: 77, output: 0 }),
  tenant("a0", "acme", "2025-02-28", "gpt-4o", { input: 5000, output: 0 }),
];

const period = { from: "2025-03-01T00:00:00Z", to: "2025-03-04T00:00:00Z" };

describe("attribution back-test", () => {
  it("weighted: per-tenant direct vs allocated totals, hand-computed", async () => {
    const r = await backtest(itemsOf(set, input()), set, config(), { ...period, model: "weighted" });
    // Day 1 weighted activity: acme 1000 × 2 = 2000, globex 500 × 0.5 = 250 (of 2250).
    //   input 1001: 889.78 / 111.22 → acme 890, globex 111;  output 50: 44.44 / 5.56 → acme 44, globex 6.
    // Day 2: only acme is active → 500.  Day 3: nobody → 77 stays unallocated.
    expect(r.rows).toEqual([
      { tenant: "acme", metric: "llm_tokens", direct: 1330, allocated: 2764, difference: 1434, share: 0.880835380835, shared: false },
      { tenant: "globex", metric: "llm_tokens", direct: 500, allocated: 617, difference: 117, share: 0.071867321867, shared: false },
    ]);
    expect(r.unattributed).toEqual([{ metric: "llm_tokens", total: 1628, allocated: 1551, unallocated: 77, windows: 3 }]);
    expect(r.unallocated).toEqual([{ window: "2025-03-03", metric: "llm_tokens", model: "gpt-4o", type: "input", quantity: 77, records: 1, reason: "no tenant activity in the window" }]);
    expect(r.notCounted).toEqual([{ metric: "llm_tokens", quantity: 123, records: 1, reason: "trace-unknown" }]);
    expect(r.events.map((e) => [e.timestamp.slice(0, 10), e.properties.type, e.customer, e.value])).toEqual([
      ["2025-03-01", "input", "acme", 890],
      ["2025-03-01", "input", "globex", 111],
      ["2025-03-01", "output", "acme", 44],
      ["2025-03-01", "output", "globex", 6],
      ["2025-03-02", "input", "acme", 500],
    ]);
  });

  it("activity: the same input without weights", async () => {
    const r = await backtest(itemsOf(set, input()), set, config(), { ...period, model: "activity" });
    // Day 1 activity acme 1000 : globex 500 → input 667 / 334, output 33 / 17; day 2 acme 500.
    expect(r.rows.map((x) => [x.tenant, x.direct, x.allocated, x.difference, x.share])).toEqual([
      ["acme", 1330, 2530, 1200, 0.7371007371],
      ["globex", 500, 851, 351, 0.215601965601],
    ]);
    expect(r.unattributed).toEqual([{ metric: "llm_tokens", total: 1628, allocated: 1551, unallocated: 77, windows: 3 }]);
  });

  it("the same report for any order of the input", async () => {
    const first = await backtest(itemsOf(set, input()), set, config(), { ...period, model: "weighted" });
    for (const seed of [5, 6, 7]) {
      expect(await backtest(itemsOf(set, shuffled(input(), seed)), set, config(), { ...period, model: "weighted" })).toEqual(first);
    }
  });

  it("shows a shared pseudo-tenant's usage moving to the tenants", async () => {
    const records = [tenant("a1", "acme", "2025-03-01", "gpt-4o", { input: 300, output: 0 }), tenant("i1", "internal", "2025-03-01", "gpt-4o", { input: 90, output: 0 })];
    const shared = config({ unattributed: { skipCodes: ["no-customer"], requireTraceContext: true, customers: ["internal"] } });
    const r = await backtest(itemsOf(set, records), set, shared, { ...period, model: "activity" });
    expect(r.rows).toEqual([
      { tenant: "acme", metric: "llm_tokens", direct: 300, allocated: 390, difference: 90, share: 1, shared: false },
      { tenant: "internal", metric: "llm_tokens", direct: 90, allocated: 0, difference: -90, share: 0, shared: true },
    ]);
  });

  it("renders the divergence as a table", async () => {
    const r: BacktestReport = await backtest(itemsOf(set, input()), set, { ...config(), file: "mappings/attribution.yaml", version: "0123456789ab" }, { ...period, model: "weighted" });
    expect(renderBacktest(r)).toBe(
      [
        "Attribution back-test 2025-03-01T00:00:00.000Z → 2025-03-04T00:00:00.000Z (usage time, end exclusive)",
        "weighted allocation by quantity per UTC day, beside direct attribution; config attribution@0123456789ab (mappings/attribution.yaml)",
        "┌────────┬────────────┬────────┬─────────────────┬────────────┬───────────────────────┐",
        "│ Tenant │ Metric     │ Direct │ With allocation │ Difference │ Share of unattributed │",
        "│ acme   │ llm_tokens │  1,330 │           2,764 │     +1,434 │                88.08% │",
        "│ globex │ llm_tokens │    500 │             617 │       +117 │                 7.19% │",
        "└────────┴────────────┴────────┴─────────────────┴────────────┴───────────────────────┘",
        "Unattributed llm_tokens: 1,628 in 3 windows = 1,551 allocated + 77 not allocated",
        "┌────────────────────────┬────────────┬────────┬───────┬──────────┬──────────────────────────────────┐",
        "│ Not allocated — window │ Metric     │ Model  │ Type  │ Quantity │ Reason                           │",
        "│ 2025-03-03             │ llm_tokens │ gpt-4o │ input │       77 │ no tenant activity in the window │",
        "└────────────────────────┴────────────┴────────┴───────┴──────────┴──────────────────────────────────┘",
        "not counted as unattributed: 123 llm_tokens from 1 call not allocated: no customer and the trace never arrived in these inputs (its tenant may still be known later)",
        "",
      ].join("\n"),
    );
  });
});
