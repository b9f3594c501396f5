import { afterEach, describe, expect, it } from "vitest";
import { recentSyncs } from "../../src/cli/context.js";
import { allocationOf, checkInputs } from "../../src/cli/commands/reconcile.js";
import { exampleInputs } from "../../src/cli/commands/demo.js";
import { loadMappingSet, metricsOf } from "../../src/mapping/index.js";
import { exclusionTotals, type Destination } from "../../src/model/index.js";
import { enqueueSync, waitForSync } from "../../src/queue/enqueue.js";
import { renderHtml } from "../../src/reconcile/report/html.js";
import { renderMarkdown } from "../../src/reconcile/report/markdown.js";
import { runReconcile } from "../../src/reconcile/run.js";
import { EXAMPLE_TENANTS } from "../support/expected.js";
import { MAPPINGS, startStack, type Stack } from "../support/stack.js";

const inputs = exampleInputs();
const from = new Date("2026-01-01T00:00:00Z");
const to = new Date("2027-01-01T00:00:00Z");

describe("report sections: what was not billed, per-event checks, the biller's own period count", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  for (const destination of ["lago", "openmeter"] as Destination[]) {
    it(`${destination}: sync-level and input-level exclusions agree; a lost event is named by id`, async () => {
      stack = await startStack({ customers: EXAMPLE_TENANTS });
      const id = await enqueueSync(stack.redis, stack.config, { destination, inputs, mappingPath: MAPPINGS });
      const s = await waitForSync(stack.redis, stack.config, id, undefined, 50);
      expect(s.error).toBeNull();
      const mappings = await loadMappingSet(MAPPINGS);
      const sink = stack.sinks[destination];
      const base = { destination, from, to, ledger: stack.ledger, sink, metrics: metricsOf(mappings), pendingMinutes: 0 };

      // Without inputs, the figures come from the sync's ingest (checkpointed with the batches).
      const syncs = await recentSyncs(stack.redis, stack.config, destination);
      const report = await runReconcile({ ...base, syncs });
      expect(report.ok).toBe(true);
      const fromSyncs = report.exclusions!;
      expect(fromSyncs.basis).toMatch(/^1 sync to this destination/);
      // Re-reading the inputs over a window that holds all their usage gives the same figures.
      const checked = await checkInputs({ report, inputs, mappings, sink });
      expect({ ...checked.exclusions, basis: "" }).toEqual({ ...fromSyncs, basis: "" });
      expect(checked.eventChecks).toEqual([]);
      // Every record is accounted for: billed, or skipped with a reason; quarantined lines beside.
      expect(fromSyncs.billed).toBeGreaterThan(0);
      expect(fromSyncs.records).toBe(Object.values(s.perInput).reduce((a, i) => a + i.records, 0));
      expect(fromSyncs.quarantined.count).toBe(s.quarantined);
      const t = exclusionTotals(fromSyncs);
      expect(t.promptCacheReadTokens).toBeGreaterThan(0);
      expect(t.failed).toBeGreaterThan(0);
      expect(t.cacheHits).toBeGreaterThan(0);
      expect(fromSyncs.unattributed.calls).toBeGreaterThan(0);
      const md = renderMarkdown(report);
      expect(md).toContain(`${t.promptCacheReadTokens.toLocaleString("en-US")} provider prompt-cache reads`);
      expect(md).toContain(`${t.failed} failed model calls were not billed`);
      expect(renderHtml(report)).toContain(`id="savings-chart"`);

      // The biller loses 3 events of one customer: the row is missing, and its check names them.
      const events = stack.sandbox.state.lagoEvents().length ? stack.sandbox.state.lagoEvents().map((e) => e.transaction_id) : stack.sandbox.state.openmeterEvents().map((e) => e.id);
      const lost = events.slice(0, 3);
      expect(stack.sandbox.deleteEvents(destination, lost)).toBe(3);
      const after = await runReconcile({ ...base, syncs });
      expect(after.ok).toBe(false);
      const again = await checkInputs({ report: after, inputs, mappings, sink });
      const differing = after.rows.filter((r) => r.status !== "matched");
      expect(again.eventChecks.length).toBe(differing.length);
      expect(again.eventChecks.flatMap((c) => c.absent).sort()).toEqual([...lost].sort());
      for (const c of again.eventChecks) {
        expect(c.held + c.absentCount).toBe(c.events);
        const row = differing.find((r) => r.customer === c.customer && r.metric === c.metric && r.model === c.model)!;
        expect(c.events).toBe(row.sentEvents);
      }

      if (destination === "lago") {
        // Lago's own count of the open period (current_usage) is short by what was lost, for that customer only.
        const period = after.periodUsage!;
        expect(period.length).toBeGreaterThan(0);
        const differs = period.filter((p) => p.status === "differs");
        const lostRows = new Set(differing.map((r) => r.customer));
        expect(new Set(differs.map((p) => p.customer))).toEqual(lostRows);
        expect(differs.reduce((a, p) => a + p.difference, 0)).toBe(differing.reduce((a, r) => a + r.difference, 0));
        expect(period.filter((p) => !lostRows.has(p.customer)).every((p) => p.status === "matched" && p.sent === p.counted)).toBe(true);
        expect(report.periodUsage!.every((p) => p.status === "matched")).toBe(true);
      } else {
        expect(after.periodUsage).toBeUndefined();
      }
    });
  }

  it("includes the allocation back-test over the window when an attribution config sits beside the mappings", async () => {
    const mappings = await loadMappingSet(MAPPINGS);
    const report = { window: { from: from.toISOString(), to: to.toISOString() } } as Parameters<typeof allocationOf>[0]["report"];
    const a = (await allocationOf({ report, inputs, mappings, mappingPath: MAPPINGS }))!;
    expect(a).toBeDefined();
    const u = a.unattributed.find((x) => x.metric === "llm_tokens")!;
    expect(u.total).toBeGreaterThan(0);
    expect(u.allocated + u.unallocated).toBe(u.total);
    // What the tenants would gain is exactly what was allocated: nothing invented, nothing lost.
    expect(a.rows.filter((r) => r.metric === "llm_tokens").reduce((s, r) => s + r.difference, 0)).toBe(u.allocated);
    // No attribution config beside the mappings: no section.
    expect(await allocationOf({ report, inputs, mappings, mappingPath: "/nonexistent/mappings" })).toBeUndefined();
  });
});

